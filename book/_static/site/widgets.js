// vaecourse: render the Jupyter widgets of a static page from the site itself (no CDN).
//
// A page built by Jupyter Book carries its widgets' state in a <script type="application/vnd.jupyter.
// widget-state+json"> tag and one <script type="application/vnd.jupyter.widget-view+json"> tag where
// each widget is displayed. The standard renderer is @jupyter-widgets/html-manager (embed-amd.js,
// 3.6 MB, plus require.js). This file is what _config.yml's nb_ipywidgets_js loads instead:
//
// - When every widget model on the page is an anywidget (with its layout models), as on the course's
//   latent-space page, it renders them directly: each model's ES module (the "_esm" state, which
//   contains the widget's whole front end) is imported from a blob URL and its render({model, el}) is
//   called with a small model object (get/set/on/off/save_changes, widget_manager.get_model) over the
//   embedded state; binary buffers become DataViews, as in Jupyter. There is no kernel, so
//   save_changes() sends nothing. This adds about 5 kB to the page instead of 3.7 MB.
// - Otherwise (ipywidgets controls, other widget libraries) it loads the vendored require.js, maps
//   "anywidget" and the html-manager's own folder to this site (widgets-config.js), and loads the
//   vendored html-manager, which renders everything.
(function () {
  "use strict";
  var script = document.currentScript;
  var here = script ? script.src : document.baseURI;
  var url = function (relative) { return new URL(relative, here).href; };
  var LIGHT_MODULES = { anywidget: true, "@jupyter-widgets/base": true };

  function readState() {
    var tag = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
    return tag ? JSON.parse(tag.textContent) : null;
  }

  function decodeBase64(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new DataView(bytes.buffer);
  }

  function modelState(entry) {
    var state = Object.assign({}, entry.state);
    (entry.buffers || []).forEach(function (buffer) {
      if (buffer.encoding !== "base64") throw new Error("vaecourse: unsupported buffer encoding " + buffer.encoding);
      var target = state;
      var path = buffer.path;
      for (var i = 0; i < path.length - 1; i++) target = target[path[i]];
      target[path[path.length - 1]] = decodeBase64(buffer.data);
    });
    return state;
  }

  function makeModel(id, values, manager) {
    var handlers = {};
    return {
      model_id: id,
      widget_manager: manager,
      get: function (name) { return values[name]; },
      set: function (name, value) {
        var changed = values[name] !== value;
        values[name] = value;
        if (changed) (handlers["change:" + name] || []).slice().forEach(function (h) { h.fn.call(h.context); });
      },
      save_changes: function () { /* no kernel on a static page */ },
      send: function () { /* no kernel on a static page */ },
      on: function (name, fn, context) { (handlers[name] = handlers[name] || []).push({ fn: fn, context: context }); },
      off: function (name, fn) {
        if (!name) { handlers = {}; return; }
        handlers[name] = (handlers[name] || []).filter(function (h) { return fn && h.fn !== fn; });
      },
    };
  }

  function addStyle(key, css) {
    if (!css || document.querySelector('style[data-vaecourse-widget="' + key + '"]')) return;
    var style = document.createElement("style");
    style.dataset.vaecourseWidget = key;
    style.textContent = css;
    document.head.appendChild(style);
  }

  async function importModule(source) {
    var blobUrl = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    try {
      return await import(blobUrl);
    } finally {
      URL.revokeObjectURL(blobUrl);
    }
  }

  async function renderLight(state) {
    var models = {};
    var manager = {
      get_model: async function (id) {
        if (!models[id]) throw new Error("vaecourse: no widget model " + id + " on this page");
        return models[id];
      },
    };
    Object.keys(state.state).forEach(function (id) {
      models[id] = makeModel(id, modelState(state.state[id]), manager);
    });
    var views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
    for (var i = 0; i < views.length; i++) {
      var view = views[i];
      var id = JSON.parse(view.textContent).model_id;
      var model = models[id];
      if (!model || state.state[id].model_module !== "anywidget") continue;
      var el = document.createElement("div");
      el.className = "widget-subarea vaecourse-static-widget";
      view.parentElement.insertBefore(el, view);
      try {
        addStyle(model.get("_anywidget_id"), model.get("_css"));
        var module = await importModule(model.get("_esm"));
        var widget = typeof module.default === "function" ? await module.default() : module.default;
        if (widget.initialize) await widget.initialize({ model: model });
        if (widget.render) await widget.render({ model: model, el: el });
      } catch (error) {
        console.error("vaecourse: could not render widget " + model.model_id, error);
      }
    }
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = function () { reject(new Error("vaecourse: could not load " + src)); };
      document.head.appendChild(tag);
    });
  }

  async function loadManager() {
    await loadScript(url("../requirejs/require.js"));
    window.requirejs.config({
      paths: {
        anywidget: url("../anywidget/index"),
        "@jupyter-widgets/html-manager/dist": url("../html-manager"),
      },
    });
    await loadScript(url("../html-manager/embed-amd.js"));
  }

  function start() {
    var state = readState();
    if (!state) return;
    var entries = Object.keys(state.state).map(function (id) { return state.state[id]; });
    var light = entries.every(function (entry) { return LIGHT_MODULES[entry.model_module]; });
    var done = light ? renderLight(state) : loadManager();
    done.catch(function (error) { console.error(error); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
