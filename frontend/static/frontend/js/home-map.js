/* global L */
"use strict";
// The landing page's web map: our own basemap or aerial imagery tiles, with the areas and landmarks
// of our GeoJSON feeds on top (nothing from the internet). Names come from data: they are set as
// text, never HTML.
(function() {
    const config = JSON.parse(document.getElementById("map-config").textContent);
    const rtl = document.documentElement.dir === "rtl";
    const element = document.getElementById("map");
    const status = document.getElementById("map-status");
    const KUWAIT = [29.34, 47.98];  // Leaflet is latitude first
    // The colours of the basemap's own icons (tiles/styles/icons/<category>.svg): a marker drawn over its icon,
    // and the legend, say the same thing (a hotel was a pink circle over a blue bed).
    const CATEGORY_COLOURS = {
        mall: "#8e44ad", tourist_site: "#d35400", mosque: "#138d75", school: "#a0522d",
        hospital: "#c0392b", park: "#229954", government_office: "#34495e", museum: "#7b5e3b",
        hotel: "#2471a3", market: "#b7950b"
    };
    const OTHER_COLOUR = "#475569";

    const map = L.map(element, {zoomControl: false, attributionControl: false, minZoom: 6});
    // Whom the map credits, per base layer (the demo's coast and neighbouring land are OpenStreetMap's). Leaflet
    // writes attributions as HTML; the credits are delivered text.
    L.control.attribution({prefix: false, position: rtl ? "bottomleft" : "bottomright"}).addTo(map);
    const creditsHtml = window.geoportalCreditsHtml;  // frontend/js/map-credits.js
    element.geoportalMap = map;  // for pages that embed the map, and for the browser tests
    // Leaflet titles (and names) its buttons in English whatever the page's language.
    L.control.zoom({
        position: rtl ? "topright" : "topleft",
        zoomInTitle: config.controlNames.zoomIn,
        zoomOutTitle: config.controlNames.zoomOut
    }).addTo(map);
    L.control.scale({imperial: false, position: rtl ? "bottomright" : "bottomleft"}).addTo(map);
    // The controls before the map's contents in the page, so in the tab order: Leaflet puts them after, and the
    // keyboard met every landmark drawn (105 at a city's zoom) before the zoom buttons and the layer switcher.
    // They are positioned over the map whatever their place in the page.
    element.insertBefore(element.querySelector(".leaflet-control-container"), map.getPane("mapPane"));
    map.setView(KUWAIT, 10);
    // Leaflet measures its box once; the page's layout may change it later (the side panel filling in, fonts
    // loading): measure again, or tiles are drawn for the old size and part of the map stays empty.
    if (window.ResizeObserver) {
        new ResizeObserver(function() { map.invalidateSize({pan: false}); }).observe(element);
    }

    // The view in the address, as OpenStreetMap writes it (#map=zoom/lat/lon): a view, a place found by the search
    // among them, can be shared or bookmarked, and Back leaves the page rather than each pan.
    const VIEW_IN_ADDRESS = /^#map=(\d{1,2})\/(-?\d{1,2}(?:\.\d{1,7})?)\/(-?\d{1,3}(?:\.\d{1,7})?)$/;
    function viewFromAddress() {
        const match = VIEW_IN_ADDRESS.exec(window.location.hash);
        if (!match) {
            return null;
        }
        const zoom = Number(match[1]), lat = Number(match[2]), lon = Number(match[3]);
        if (zoom < map.getMinZoom() || zoom > 20 || Math.abs(lat) > 85 || Math.abs(lon) > 180) {
            return null;
        }
        return {latlng: L.latLng(lat, lon), zoom: zoom};
    }
    function viewAsAddress() {
        const centre = map.getCenter();
        return "#map=" + map.getZoom() + "/" + centre.lat.toFixed(5) + "/" + centre.lng.toFixed(5);
    }
    // The language links and the way in or out carry the view (account_nav.html writes them without it, the server
    // never sees an address's fragment): switching language or signing in came back to the whole country. The
    // sign-in's "next" is a path of this site, which it checks (frontend/accounts.py); its redirect keeps the fragment.
    function viewLinksUpdate(view) {
        document.querySelectorAll(".language-switch a").forEach(function(link) {
            link.setAttribute("href", link.getAttribute("href").split("#")[0] + view);
        });
        const next = window.location.pathname + window.location.search + view;
        document.querySelectorAll("a.account-nav").forEach(function(link) {
            const url = new URL(link.href);
            url.searchParams.set("next", next);
            link.setAttribute("href", url.pathname + url.search);
        });
        document.querySelectorAll("form.account-nav input[name=next]").forEach(function(input) {
            input.value = next;
        });
    }
    const sharedView = viewFromAddress();
    if (sharedView) {
        map.setView(sharedView.latlng, sharedView.zoom);
        viewLinksUpdate(viewAsAddress());
    }
    map.on("moveend", function() {
        const view = viewAsAddress();
        if (window.location.hash !== view) {
            window.history.replaceState(null, "", view);
        }
        viewLinksUpdate(view);
    });
    window.addEventListener("hashchange", function() {
        const view = viewFromAddress();
        if (view) {
            map.setView(view.latlng, view.zoom);
        }
    });

    const basemap = L.tileLayer(config.basemapTiles, {
        minZoom: 6, maxZoom: 20, className: "geoportal-basemap", attribution: creditsHtml(config.credits.basemap)
    }).addTo(map);
    // The imagery over the basemap: where no capture covers the view (the sea, the desert, below zoom 10) the map
    // goes on, where JPEG tiles had drawn grey and the rest was the sea's colour. WebP tiles are clear there.
    const imagery = L.layerGroup([
        L.tileLayer(config.basemapTiles, {
            minZoom: 6, maxZoom: 20, className: "geoportal-basemap-under", attribution: creditsHtml(config.credits.basemap)
        }),
        L.tileLayer(config.imageryTiles, {minZoom: 10, maxZoom: 21, className: "geoportal-imagery"})
    ]);

    function showStatus(message) {
        status.textContent = message || "";
        status.hidden = !message;
    }

    // The name in the page's language first, the other one below it.
    function namesElement(properties) {
        const order = config.language === "ar" ? ["ar", "en"] : ["en", "ar"];
        const box = document.createElement("div");
        box.className = "feature-box";
        box.dir = document.documentElement.dir;  // the map itself is left-to-right
        order.forEach(function(language) {
            const name = properties["name_" + language];
            if (name) {
                const span = document.createElement("span");
                span.className = "feature-label";
                span.lang = language;
                span.dir = language === "ar" ? "rtl" : "ltr";
                span.textContent = name;
                box.appendChild(span);
            }
        });
        return box;
    }

    const areas = L.geoJSON(null, {
        // Outlines over the tiles; the fill only catches the pointer for the names' tooltip.
        style: {color: "#8f8775", weight: 1, fillColor: "#f4efe4", fillOpacity: 0.05, className: "geoportal-area"},
        onEachFeature: function(feature, layer) {
            layer.bindTooltip(namesElement(feature.properties), {sticky: true, direction: "top"});
            layer.on("mouseover", function() { layer.setStyle({fillColor: "#e8dcc0"}); });
            layer.on("mouseout", function() { areas.resetStyle(layer); });
            // Out of the keyboard's way: an outline only names its area on hover (the search finds areas), and
            // Chromium put all of them (77 in the demo) in the tab order before the side panel.
            layer.on("add", function() { layer.getElement().setAttribute("tabindex", "-1"); });
        }
    }).addTo(map);

    // Over the basemap, which draws the landmarks' own icons from a zoom per category (config.landmarkIconZooms),
    // a landmark is a clear target on its icon, and is not drawn where its icon is not: a circle of ours over the
    // icon hid the street and area names around it. Over the imagery, which has no icons, it is a coloured circle.
    // SVG, not canvas: at most LANDMARK_LIMIT markers per view.
    function overBasemap() {
        return map.hasLayer(basemap);
    }

    function landmarkShown(feature) {
        const firstZoom = config.landmarkIconZooms[feature.properties.category];
        return !overBasemap() || (firstZoom !== undefined && map.getZoom() >= firstZoom);
    }

    // The landmarks in the order the page's language reads the map, so the keyboard meets them so (the feed's is by
    // id, which jumped about the map): in rows a twelfth of the view high, north first, each row west to east in
    // English and east to west in Arabic.
    function inReadingOrder(collection) {
        const bounds = map.getBounds();
        const rowHeight = (bounds.getNorth() - bounds.getSouth()) / 12 || 1;
        function row(feature) { return Math.floor((bounds.getNorth() - feature.geometry.coordinates[1]) / rowHeight); }
        const features = collection.features.slice().sort(function(a, b) {
            const across = a.geometry.coordinates[0] - b.geometry.coordinates[0];
            return row(a) - row(b) || (rtl ? -across : across);
        });
        return {type: "FeatureCollection", features: features};
    }

    // The clear target over a basemap icon: wider for a finger (44 px across) than for a mouse.
    const TARGET_RADIUS = window.matchMedia("(pointer: coarse)").matches ? 22 : 10;
    let landmarkCollection = null;
    const landmarks = L.geoJSON(null, {
        filter: landmarkShown,
        pointToLayer: function(feature, latlng) {
            const className = "geoportal-landmark landmark-" + feature.properties.category;
            if (overBasemap()) {
                return L.circleMarker(latlng, {className: className, radius: TARGET_RADIUS, stroke: false, fillOpacity: 0});
            }
            return L.circleMarker(latlng, {
                className: className,
                radius: 6,
                weight: 1.5,
                color: "#ffffff",
                fillColor: CATEGORY_COLOURS[feature.properties.category] || OTHER_COLOUR,
                fillOpacity: 1
            });
        },
        onEachFeature: function(feature, layer) {
            const content = namesElement(feature.properties);
            const category = document.createElement("span");
            category.className = "feature-category";
            category.textContent = config.categoryLabels[feature.properties.category] || feature.properties.category;
            content.appendChild(category);
            layer.bindPopup(content);
            // The parcel it stands on, looked up once its popup opens (in the feed, it doubled the feed's time):
            // a link to that parcel's file. A landmark in a street, on no parcel, has none.
            let parcelAsked = false;
            layer.on("popupopen", function() {
                if (parcelAsked) {
                    return;
                }
                parcelAsked = true;
                const point = layer.getLatLng();
                fetch(config.identifyUrl + "?lon=" + point.lng.toFixed(7) + "&lat=" + point.lat.toFixed(7),
                      {headers: {Accept: "application/json"}}).then(function(response) {
                    return response.ok ? response.json() : null;
                }).then(function(answer) {
                    if (answer && answer.how === "inside") {
                        const link = document.createElement("a");
                        link.href = answer.links.html;
                        link.className = "parcel-file-link";
                        link.textContent = config.messages.openFile;
                        content.appendChild(link);
                        layer.getPopup().update();
                    }
                }).catch(function() { parcelAsked = false; });  // asked again at the next opening
            });
            // A button for the keyboard: named, and Enter or Space opens what a click opens.
            layer.on("add", function() {
                const target = layer.getElement();
                target.setAttribute("tabindex", "0");
                target.setAttribute("role", "button");
                target.setAttribute("aria-label", [feature.properties["name_" + config.language] || feature.properties.name_en,
                                                   category.textContent].join(", "));
                target.addEventListener("keydown", function(event) {
                    if (event.key === "Enter" || event.key === " ") {
                        event.preventDefault();
                        layer.openPopup();
                    }
                });
            });
        }
    }).addTo(map);

    const baseLayers = {}, overlays = {};
    baseLayers[config.layerNames.basemap] = basemap;
    baseLayers[config.layerNames.imagery] = imagery;
    overlays[config.layerNames.areas] = areas;
    overlays[config.layerNames.landmarks] = landmarks;
    const layersControl = L.control.layers(baseLayers, overlays, {position: rtl ? "topleft" : "topright"}).addTo(map);
    // Leaflet titles its button "Layers" whatever the page's language, and names it by that title alone.
    const layersToggle = layersControl.getContainer().querySelector(".leaflet-control-layers-toggle");
    layersToggle.title = config.controlNames.layers;
    layersToggle.setAttribute("aria-label", config.controlNames.layers);
    // And each popup's close button "Close popup".
    map.on("popupopen", function(event) {
        const close = event.popup.getElement().querySelector(".leaflet-popup-close-button");
        if (close) {
            close.title = config.controlNames.closePopup;
            close.setAttribute("aria-label", config.controlNames.closePopup);
        }
    });

    function buildLegend() {
        const legend = document.getElementById("legend");
        Object.keys(config.categoryLabels).forEach(function(category) {
            const item = document.createElement("li");
            const swatch = document.createElement("span");
            swatch.className = "swatch";
            swatch.setAttribute("aria-hidden", "true");
            swatch.style.background = CATEGORY_COLOURS[category] || OTHER_COLOUR;
            item.appendChild(swatch);
            item.appendChild(document.createTextNode(config.categoryLabels[category]));
            legend.appendChild(item);
        });
    }

    function getJSON(url, signal) {
        return fetch(url, {signal: signal, headers: {Accept: "application/geo+json"}}).then(function(response) {
            if (!response.ok) {
                throw new Error(url + ": HTTP " + response.status);
            }
            return response.json();
        });
    }

    // Again at each change of zoom or base layer: which landmarks are drawn, and how, follows both.
    // A landmark's popup open when they are drawn again (the feed answering after a move) stays open.
    function landmarksDraw() {
        let openCode = null;
        landmarks.eachLayer(function(layer) {
            if (layer.isPopupOpen()) {
                openCode = layer.feature.properties.code;
            }
        });
        landmarks.clearLayers();
        if (landmarkCollection) {
            landmarks.addData(inReadingOrder(landmarkCollection));
        }
        landmarks.eachLayer(function(layer) {
            if (layer.feature.properties.code === openCode) {
                layer.openPopup();
            }
        });
        element.dataset.landmarksShown = String(landmarks.getLayers().length);
    }
    map.on("baselayerchange zoomend", landmarksDraw);

    let landmarkRequest = null;
    function loadLandmarks() {
        if (landmarkRequest) {
            landmarkRequest.abort();
        }
        landmarkRequest = new AbortController();
        // Busy until this view's landmarks are drawn: for a screen reader, and for whoever waits on the map.
        element.setAttribute("aria-busy", "true");
        const bounds = map.getBounds();
        const bbox = [
            Math.max(bounds.getWest(), -180), Math.max(bounds.getSouth(), -90),
            Math.min(bounds.getEast(), 180), Math.min(bounds.getNorth(), 90)
        ].map(function(value) { return value.toFixed(5); }).join(",");
        return getJSON(config.landmarksUrl + "?bbox=" + bbox, landmarkRequest.signal).then(function(collection) {
            landmarkCollection = collection;
            landmarksDraw();
            element.dataset.landmarks = String(collection.features.length);
            element.removeAttribute("aria-busy");
            showStatus(collection.truncated ? config.messages.truncated : "");
        }).catch(function(error) {
            if (error.name !== "AbortError") {  // an aborted request's successor is still on its way
                element.removeAttribute("aria-busy");
                showStatus(config.messages.failed);
            }
        });
    }

    // Click a parcel: what is there (or nearest), and a link to its file. Text only, never HTML.
    function format(template, values) {
        return template.replace(/%\((\w+)\)s/g, function(_, name) { return String(values[name]); });
    }

    function parcelPopup(answer) {
        const box = document.createElement("div");
        box.className = "feature-box parcel-popup";
        box.dir = document.documentElement.dir;
        if (!answer.parcel_id) {
            box.textContent = config.messages.noParcel;
            return box;
        }
        const parcel = answer.parcel;
        const title = document.createElement("strong");
        const area = config.language === "ar" ? parcel.area_name_ar : parcel.area_name_en;
        title.textContent = format(config.messages.parcelTitle, {number: parcel.number, block: parcel.block_no, area: area});
        title.id = "parcel-popup-title";  // one parcel popup at a time: it describes the popup's link
        box.appendChild(title);
        if (answer.how === "nearest") {
            const note = document.createElement("span");
            note.className = "feature-category";
            note.textContent = format(config.messages.nearest, {distance: answer.distance_m});
            box.appendChild(note);
        }
        const link = document.createElement("a");
        link.href = answer.links.html;
        link.className = "parcel-file-link";
        link.textContent = config.messages.openFile;
        link.setAttribute("aria-describedby", title.id);
        box.appendChild(link);
        return box;
    }

    map.on("click", function(event) { parcelIdentify(event.latlng, false); });
    // The keyboard picks the parcel under the cross at the map's centre (home.css), with Enter on the map itself: the
    // arrows and + and - move it there (Leaflet's), and no click was needed to open a parcel's file. The map says so
    // to a screen reader (its description). Not Space: on a map focused by a click it scrolls the page, as ever.
    const mapKeys = document.createElement("span");
    mapKeys.id = "map-keys";
    mapKeys.className = "visually-hidden";
    mapKeys.textContent = config.messages.mapKeys;
    element.parentNode.insertBefore(mapKeys, element);
    element.setAttribute("aria-describedby", mapKeys.id);
    element.setAttribute("aria-keyshortcuts", "Enter");
    element.addEventListener("keydown", function(event) {
        if (event.target !== element || event.key !== "Enter"
                || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
            return;
        }
        event.preventDefault();
        if (!event.repeat) {  // held down, a key repeats: one pick (the identify API is rate-limited), not 30 a second
            parcelIdentify(map.getCenter(), true);
        }
    });

    let identifyRequest = null;
    function parcelIdentify(latlng, byKeyboard) {
        if (map.getZoom() < config.identifyMinZoom) {
            showStatus(config.messages.zoomToPick);
            return;
        }
        if (identifyRequest) {
            identifyRequest.abort();  // an earlier pick's answer must not open its popup after this one's
        }
        identifyRequest = new AbortController();
        const url = config.identifyUrl + "?lon=" + latlng.lng.toFixed(7) + "&lat=" + latlng.lat.toFixed(7);
        fetch(url, {headers: {Accept: "application/json"}, signal: identifyRequest.signal}).then(function(response) {
            return response.json().then(function(body) {
                if (!response.ok) {
                    // Said in the page's language: the API's own message is English, for developers.
                    const outside = response.status === 400 && body.field === "point";
                    throw new Error(outside ? config.messages.outside : config.messages.identifyFailed);
                }
                return body;
            });
        }).then(function(answer) {
            identifyRequest = null;
            // Picked by keyboard: the popup's link takes the focus (named by the parcel it opens), or the status
            // line says there is no parcel there; a screen reader had heard nothing.
            showStatus(byKeyboard && !answer.parcel_id ? config.messages.noParcel : "");
            const popup = L.popup().setLatLng(latlng).setContent(parcelPopup(answer)).openOn(map);
            const link = byKeyboard ? popup.getElement().querySelector(".parcel-file-link") : null;
            if (link) {
                link.focus();
            }
        }).catch(function(error) {
            if (error.name === "AbortError") {
                return;
            }
            identifyRequest = null;
            showStatus(error instanceof SyntaxError || error instanceof TypeError
                ? config.messages.identifyFailed : error.message);
        });
    }

    // Find a street, landmark, area or governorate by name (Arabic or English) and go there.
    const SEARCH_MIN_LENGTH = 2;
    const SEARCH_DELAY_MS = 200;
    const SEARCH_ZOOMS = {governorates: 11, areas: 14, blocks: 16, streets: 17, landmarks: 17, parcels: 18};
    const searchInput = document.getElementById("map-search-input");
    const searchList = document.getElementById("map-search-results");
    let searchTimer = null, searchRequest = null, searchResults = [], searchActive = -1;
    // Enter pressed before the typed text's results came (the search waits SEARCH_DELAY_MS): the first of them, once
    // they come. Typing again, or leaving the box, forgets it with the search (searchClose).
    let searchEnterPending = false;

    // What the result is, and where: "Street · Salmiya" (two streets may share a name).
    function searchKind(result) {
        const kind = result.layer === "landmarks"
            ? config.categoryLabels[result.detail] || result.detail
            : config.searchKinds[result.layer] || result.layer;
        const within = config.language === "ar" ? result.within_ar || result.within_en : result.within_en || result.within_ar;
        return within ? kind + " · " + within : kind;
    }

    // Empty and hide the list (its results are no longer the input's).
    function searchListClear() {
        searchList.hidden = true;
        searchList.replaceChildren();
        searchInput.setAttribute("aria-expanded", "false");
        searchInput.removeAttribute("aria-activedescendant");
        searchResults = [];
        searchActive = -1;
    }

    // Also forget the search on its way (typed, or asked and not yet answered): its answer must not
    // open the list again once the user has moved on (Escape, a pick, elsewhere).
    function searchClose() {
        clearTimeout(searchTimer);
        searchTimer = null;
        searchEnterPending = false;
        if (searchRequest) {
            searchRequest.abort();
            searchRequest = null;
        }
        searchListClear();
        searchStatus("");
    }

    // The map's status line, for the search's own messages only: it leaves the landmarks' alone.
    let searchSaid = false;
    function searchStatus(message) {
        if (message || searchSaid) {
            showStatus(message);
        }
        searchSaid = Boolean(message);
    }

    function searchMark(index) {
        searchActive = index;
        Array.prototype.forEach.call(searchList.children, function(option, i) {
            option.setAttribute("aria-selected", i === index ? "true" : "false");
        });
        if (index >= 0) {
            searchInput.setAttribute("aria-activedescendant", searchList.children[index].id);
            searchList.children[index].scrollIntoView({block: "nearest"});
        }
    }

    function searchPick(result) {
        searchClose();
        searchInput.value = (config.language === "ar" ? result.name_ar : result.name_en) || result.name_en || result.name_ar;
        const latlng = L.latLng(result.lat, result.lon);
        map.setView(latlng, SEARCH_ZOOMS[result.layer] || 15);
        const content = namesElement(result);
        const kind = document.createElement("span");
        kind.className = "feature-category";
        kind.textContent = searchKind(result);
        content.appendChild(kind);
        if (result.href) {  // a parcel found by its reference: its file
            const link = document.createElement("a");
            link.href = result.href;
            link.className = "parcel-file-link";
            link.textContent = config.messages.openFile;
            content.appendChild(link);
        }
        L.popup().setLatLng(latlng).setContent(content).openOn(map);
        element.dataset.picked = result.layer + ":" + result.key;
    }

    function searchShow(results) {
        searchListClear();
        searchResults = results;
        if (!results.length) {
            searchStatus(config.messages.searchNone);
            return;
        }
        searchStatus("");
        results.forEach(function(result, index) {
            const option = document.createElement("li");
            option.id = "map-search-result-" + index;
            option.className = "map-search-result";
            option.setAttribute("role", "option");
            const names = namesElement(result);
            const kind = document.createElement("span");
            kind.className = "feature-category";
            kind.textContent = searchKind(result);
            names.appendChild(kind);
            option.appendChild(names);
            // mousedown, not click: the input keeps its focus and the list does not close first.
            option.addEventListener("mousedown", function(event) {
                event.preventDefault();
                searchPick(result);
            });
            searchList.appendChild(option);
        });
        searchList.hidden = false;
        searchInput.setAttribute("aria-expanded", "true");
    }

    function searchRun(query) {
        if (searchRequest) {
            searchRequest.abort();
        }
        searchRequest = new AbortController();
        const url = config.searchUrl + "?limit=8&q=" + encodeURIComponent(query);
        fetch(url, {signal: searchRequest.signal, headers: {Accept: "application/json"}}).then(function(response) {
            if (response.status === 400) {  // nothing in it to search for (only punctuation, say)
                return {results: []};
            }
            if (!response.ok) {
                throw new Error("HTTP " + response.status);
            }
            return response.json();
        }).then(function(body) {
            const enterPressed = searchEnterPending;
            searchRequest = null;
            searchEnterPending = false;
            searchShow(body.results);
            if (enterPressed && body.results.length) {
                searchPick(body.results[0]);
            }
        }).catch(function(error) {
            if (error.name !== "AbortError") {
                searchRequest = null;
                searchEnterPending = false;
                searchListClear();
                searchStatus(config.messages.searchFailed);
            }
        });
    }

    searchInput.addEventListener("input", function() {
        // The shown results are the previous text's: Enter must not pick one of them meanwhile.
        searchClose();
        const query = searchInput.value.trim();
        if (query.length >= SEARCH_MIN_LENGTH) {
            searchTimer = setTimeout(function() {
                searchTimer = null;
                searchRun(query);
            }, SEARCH_DELAY_MS);
        }
    });
    searchInput.addEventListener("keydown", function(event) {
        if (event.key === "ArrowDown" && searchResults.length) {
            event.preventDefault();
            searchMark((searchActive + 1) % searchResults.length);
        } else if (event.key === "ArrowUp" && searchResults.length) {
            event.preventDefault();
            searchMark((searchActive - 1 + searchResults.length) % searchResults.length);
        } else if (event.key === "Enter") {
            event.preventDefault();
            if (searchResults.length) {
                searchPick(searchResults[Math.max(searchActive, 0)]);
            } else if (searchTimer !== null || searchRequest) {
                searchEnterPending = true;
            }
        } else if (event.key === "Escape") {
            // The first Escape closes the list (or forgets the search on its way) and keeps the text, which a
            // search box clears on Escape by itself; the next one clears it (ARIA's combobox pattern).
            if (!searchList.hidden || searchTimer !== null || searchRequest) {
                event.preventDefault();
            }
            searchClose();
        }
    });
    searchInput.addEventListener("blur", searchClose);
    document.getElementById("map-search").addEventListener("submit", function(event) { event.preventDefault(); });

    buildLegend();
    getJSON(config.areasUrl).then(function(collection) {
        areas.addData(collection);
        element.dataset.areas = String(collection.features.length);
        if (collection.features.length && !sharedView) {  // a shared view is kept
            // At once, not animated: a view chosen while Leaflet's zoom animation ran (a search result picked as
            // the page opens) was put back to this one when the animation ended.
            map.fitBounds(areas.getBounds(), {padding: [12, 12], animate: false});
        }
    }).catch(function() {
        showStatus(config.messages.failed);
    }).then(function() {
        map.on("moveend", loadLandmarks);
        return loadLandmarks();
    });
}());
