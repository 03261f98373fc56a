/* AgentMemory: the asv dashboard opened as a file (file://), where browsers refuse XMLHttpRequest.
 *
 * `python -m memory.benchmarking.cli publish` writes a twin X.json.js of every X.json of the site,
 * holding `asvOfflineData(<the JSON>);`. On a file:// page this transport answers asv's JSON
 * requests by loading the twin with a <script> element (allowed from files); a script's load event
 * runs right after the script itself, so the value handed over is that script's. Over http(s) it
 * does nothing: asv reads its JSON files as usual.
 */
(function ($) {
    "use strict";
    if (window.location.protocol !== "file:") {
        return;
    }
    var handed = null;
    window.asvOfflineData = function (data) {
        handed = {data: data};
    };
    $.ajaxTransport("+json", function (options) {
        var script = null;

        function drop() {
            if (script) {
                script.onload = script.onerror = null;
                script.parentNode.removeChild(script);
                script = null;
            }
        }

        return {
            send: function (headers, complete) {
                script = document.createElement("script");
                script.src = options.url.split("?")[0] + ".js";
                script.onload = script.onerror = function (event) {
                    var got = handed;
                    handed = null;
                    drop();
                    if (event.type === "load" && got) {
                        complete(200, "success", {json: got.data});
                    } else {
                        complete(404, "not found");
                    }
                };
                document.head.appendChild(script);
            },
            abort: drop
        };
    });
})(jQuery);
