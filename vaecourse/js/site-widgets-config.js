// vaecourse: load the "anywidget" widget front end from this website, not from a CDN.
// The Jupyter widget manager (@jupyter-widgets/html-manager, embed-amd.js) asks require.js for each
// widget library by name and only falls back to a CDN when that fails. This file, loaded after
// require.js and before embed-amd.js (see nb_ipywidgets_js in _config.yml), maps the name to the copy
// scripts/vendor_assets.py put in _static/anywidget/.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.requirejs) {
    return;
  }
  var anywidget = new URL("../anywidget/index", script.src).href;
  window.requirejs.config({ paths: { anywidget: anywidget } });
})();
