/* ReDoc for /api/v1/redoc/: no inline script (CSP). */
(function () {
  "use strict";
  var root = document.getElementById("redoc");
  Redoc.init(
    root.dataset.schemaUrl,
    { hideDownloadButton: false, expandResponses: "200,201", disableSearch: true, nonce: root.dataset.nonce },
    root
  );
})();
