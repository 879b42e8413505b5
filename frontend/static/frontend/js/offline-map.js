/* global ol */
"use strict";
// Helpers for Django's MapWidget (gis/js/OLMapWidget.js) that keep the map offline.
window.geoportalMap = {
    // The backdrop: the municipality's areas as outlines from our own GeoJSON endpoint, in
    // place of internet tiles. GeoJSON is EPSG:4326 (RFC 7946); OpenLayers reprojects it to
    // the view's EPSG:3857 as it loads.
    areaBackdrop: function(url) {
        const outline = new ol.style.Style({
            fill: new ol.style.Fill({color: "rgba(242, 238, 228, 0.9)"}),
            stroke: new ol.style.Stroke({color: "#9a9484", width: 1})
        });
        const label = new ol.style.Text({
            font: "12px system-ui, sans-serif",
            fill: new ol.style.Fill({color: "#5b564b"}),
            stroke: new ol.style.Stroke({color: "#ffffff", width: 3}),
            overflow: true
        });
        return new ol.layer.Vector({
            className: "geoportal-backdrop",
            source: new ol.source.Vector({url: url, format: new ol.format.GeoJSON()}),
            style: function(feature, resolution) {
                if (resolution > 60) {
                    return outline;
                }
                label.setText(feature.get("name_en") + "\n" + feature.get("name_ar"));
                return [outline, new ol.style.Style({text: label})];
            }
        });
    },
    // A read-only map: the geometry is shown, nothing can be drawn or moved.
    freeze: function(widget) {
        widget.disableDrawing();
        widget.interactions.modify.setActive(false);
    }
};
