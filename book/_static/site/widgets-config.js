// vaecourse: load the widget libraries from this website, not from a CDN.
// The Jupyter widget manager (@jupyter-widgets/html-manager, embed-amd.js) asks require.js for each
// widget library by name and only falls back to a CDN when that fails. This file, loaded after
// require.js and before embed-amd.js (see nb_ipywidgets_js in _config.yml), maps
// - "anywidget" to the copy scripts/vendor_assets.py put in _static/anywidget/, and
// - the html-manager's own module folder to _static/html-manager/, so that the font files its CSS
//   refers to are fetched from there (relative to the module, not to the page).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.requirejs) {
    return;
  }
  var url = function (relative) { return new URL(relative, script.src).href; };
  window.requirejs.config({
    paths: {
      anywidget: url("../anywidget/index"),
      "@jupyter-widgets/html-manager/dist": url("../html-manager"),
    },
  });
})();
