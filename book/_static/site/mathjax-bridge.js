// vaecourse: give MathJax 3 the one MathJax 2 call the Jupyter widget library still makes.
// @jupyter-widgets/base typesets widget labels with MathJax.Hub.Queue(["Typeset", MathJax.Hub, el]),
// the MathJax 2 API; the site loads MathJax 3, which has no Hub, so a label would throw. This bridge
// forwards such calls to MathJax 3's typesetPromise. It is installed on the window "load" event, after
// the (async) MathJax script has run and before the widget manager renders its widgets.
(function () {
  "use strict";
  function install() {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup || !mathjax.startup.promise) {
      return;
    }
    mathjax.Hub = {
      Queue: function () {
        var elements = [];
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
            elements.push(job[2]);
          } else if (typeof job === "function") {
            mathjax.startup.promise.then(job);
          }
        }
        if (elements.length) {
          mathjax.startup.promise
            .then(function () { return mathjax.typesetPromise(elements); })
            .catch(function (error) { console.warn("MathJax typeset failed", error); });
        }
      },
    };
  }
  install();
  window.addEventListener("load", install);
})();
