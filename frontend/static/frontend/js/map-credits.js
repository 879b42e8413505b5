"use strict";
// Whom a map credits (layers.selectors.map_credits), as the HTML a Leaflet layer's attribution is: each credit is
// delivered text, set as text, and isolated, so that an Arabic credit keeps its order in either page. A "©" is held
// to the name after it (a no-break space): on a phone the line broke between them.
window.geoportalCreditsHtml = function(credits) {
    return credits.map(function(credit) {
        const isolated = document.createElement("bdi");
        isolated.textContent = credit.replace(/© /g, "©\u00a0");
        return isolated.outerHTML;
    }).join(" | ");
};
