// Copy the built files that a package keeps outside its dist/ folder into a folder of their own,
// so that Django serves folders of built files only (frontend/vendor_assets.py), never a whole
// package. npm runs this after `npm install` and `npm ci`.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

const LOOSE_FILES = [
  // OpenLayers ships its stylesheet beside its ES modules, not in dist/.
  ["node_modules/ol/ol.css", "node_modules/.vendor/ol-css/ol.css"],
];

for (const [source, target] of LOOSE_FILES) {
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
}
