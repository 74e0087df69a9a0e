// Signature pad for the customer's sign-off (a static file: the CSP forbids inline scripts).
// Pointer events draw on the canvas; on every stroke end the PNG goes into the hidden field.
(function () {
  "use strict";
  function setup(canvas) {
    var target = document.getElementById(canvas.dataset.target);
    var clear = document.getElementById("signature-clear");
    var ctx = canvas.getContext("2d");
    var drawing = false;
    var dirty = false;
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    ctx.strokeStyle = "#111";
    canvas.style.touchAction = "none";
    function at(ev) {
      var r = canvas.getBoundingClientRect();
      return [(ev.clientX - r.left) * canvas.width / r.width,
              (ev.clientY - r.top) * canvas.height / r.height];
    }
    canvas.addEventListener("pointerdown", function (ev) {
      drawing = true;
      canvas.setPointerCapture(ev.pointerId);
      var p = at(ev);
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!drawing) return;
      var p = at(ev);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      dirty = true;
    });
    function end() {
      if (!drawing) return;
      drawing = false;
      if (dirty && target) target.value = canvas.toDataURL("image/png");
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    if (clear) {
      clear.addEventListener("click", function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        dirty = false;
        if (target) target.value = "";
      });
    }
  }
  function init() {
    var pad = document.getElementById("signature-pad");
    if (pad) setup(pad);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
