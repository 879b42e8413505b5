/* global L */
"use strict";
// The parcel file's map: our basemap (or imagery) tiles with the parcel outlined, fitted to it.
(function() {
    const config = JSON.parse(document.getElementById("parcel-map-config").textContent);
    const map = L.map("parcel-map", {attributionControl: false, maxZoom: 21});
    L.control.scale({imperial: false}).addTo(map);
    // Whom each base layer credits: delivered text, which Leaflet would write as HTML.
    L.control.attribution({prefix: false}).addTo(map);
    const creditsHtml = window.geoportalCreditsHtml;  // frontend/js/map-credits.js
    const basemap = L.tileLayer("/tiles/basemap/{z}/{x}/{y}{r}.png", {
        minZoom: 6, maxZoom: 21, maxNativeZoom: 20, attribution: creditsHtml(config.credits.basemap)
    }).addTo(map);
    // The imagery over the basemap (its WebP tiles are clear where no capture covers the parcel's surroundings).
    const imagery = L.layerGroup([
        L.tileLayer("/tiles/basemap/{z}/{x}/{y}{r}.png", {
            minZoom: 6, maxZoom: 21, maxNativeZoom: 20, attribution: creditsHtml(config.credits.basemap)
        }),
        L.tileLayer("/tiles/imagery/{z}/{x}/{y}.webp", {minZoom: 10, maxZoom: 21})
    ]);
    L.control.layers({"Map · الخريطة": basemap, "Aerial imagery · التصوير الجوي": imagery}).addTo(map);
    const parcel = L.geoJSON(config.geometry, {style: {color: "#c0392b", weight: 3, fillColor: "#c0392b", fillOpacity: 0.15}}).addTo(map);
    map.fitBounds(parcel.getBounds(), {padding: [60, 60], maxZoom: 19});

    // A version of the survey history, or a parcel this one came from as it was: drawn on this map, dashed, beside
    // the parcel as it is (a second click takes it away). The link itself is the version's GeoJSON.
    const versions = {};
    document.querySelectorAll("a[data-map-version]").forEach(function(link) {
        link.addEventListener("click", function(event) {
            if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
                return;  // a new tab or window gets the GeoJSON itself
            }
            event.preventDefault();
            const name = link.dataset.mapVersion;
            if (versions[name]) {
                map.removeLayer(versions[name]);
                delete versions[name];
                link.removeAttribute("aria-pressed");
                return;
            }
            fetch(link.href, {headers: {Accept: "application/geo+json"}}).then(function(response) {
                if (!response.ok) {
                    throw new Error(link.href + ": HTTP " + response.status);
                }
                return response.json();
            }).then(function(feature) {
                // The name holds delivered keys (area, block, parcel): set as text, never as HTML (Leaflet writes a
                // string tooltip with innerHTML, and the attribute's escaping is undone by dataset).
                const label = document.createElement("span");
                label.textContent = name;
                const outline = L.geoJSON(feature, {
                    style: {color: "#1f4e79", weight: 2, dashArray: "6 4", fillOpacity: 0, className: "parcel-version"}
                }).bindTooltip(label, {permanent: true, direction: "center", className: "parcel-version-label"});
                versions[name] = outline.addTo(map);
                link.setAttribute("aria-pressed", "true");
                map.fitBounds(parcel.getBounds().extend(outline.getBounds()), {padding: [60, 60], maxZoom: 19});
                document.getElementById("parcel-map").scrollIntoView({block: "nearest"});
            }).catch(function() {
                window.location.href = link.href;  // the map could not show it: the GeoJSON, as without script
            });
        });
    });
})();
