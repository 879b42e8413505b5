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
})();
