"use strict";
// Whom a map credits (layers.selectors.map_credits), as the HTML a Leaflet layer's attribution is: each credit is
// delivered text, set as text, and isolated, so that an Arabic credit keeps its order in either page.
window.geoportalCreditsHtml = function(credits) {
    return credits.map(function(credit) {
        const isolated = document.createElement("bdi");
        isolated.textContent = credit;
        return isolated.outerHTML;
    }).join(" | ");
};
