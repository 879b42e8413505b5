"use strict";
// The printable report's Print button (no inline handler: the page's Content-Security-Policy runs only our files).
document.querySelectorAll(".print-button").forEach(function(button) {
    button.addEventListener("click", function() { window.print(); });
});
