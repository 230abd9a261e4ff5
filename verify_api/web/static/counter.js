// The counter desk's behaviour. Progressive: every form works without this file; it adds
// drag-and-drop, the size check before sending, the camera and the print button.
// No inline script anywhere (the pages' Content-Security-Policy forbids it).
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  // -- the receipt's print button ------------------------------------------------------
  Array.prototype.forEach.call(document.querySelectorAll("button.print"), function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });

  // -- the scanner's field (the desk's, or the result page's "next one"): what is in it is
  // selected whenever it has focus, so the next scan replaces a refused one instead of being
  // appended to it. Focused from the start where a scanner may be plugged in (a mouse, a
  // desktop): a scan then needs no click. Not on a touch screen, where focus would open the
  // keyboard over the page.
  var field = document.querySelector("input.scan-field");
  if (field) {
    field.addEventListener("focus", function () { field.select(); });
    if (window.matchMedia && window.matchMedia("(pointer: fine)").matches) { field.focus(); }
  }

  var desk = $("desk");
  if (!desk) { return; }
  var text = desk.dataset;

  // -- upload: drop or pick, checked against the server's limit before it is sent -----
  var form = $("upload-form"), input = $("file"), drop = $("drop"), status = $("upload-status");
  var maxBytes = parseInt(text.maxBytes, 10);

  function tooLarge(file) {
    if (file && maxBytes && file.size > maxBytes) {
      status.textContent = text.tooLarge;
      status.classList.add("error");
      return true;
    }
    status.textContent = file ? file.name : "";
    return false;
  }

  input.addEventListener("change", function () { tooLarge(input.files[0]); });
  form.addEventListener("submit", function (ev) {
    if (tooLarge(input.files[0])) { ev.preventDefault(); }
  });
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (ev) {
    ev.preventDefault();
    var files = ev.dataTransfer && ev.dataTransfer.files;
    if (!files || !files.length) { return; }
    input.files = files;
    if (!tooLarge(files[0])) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
  });

  // -- the link: a keyboard-wedge scanner types it and presses Enter, which submits the
  // form by itself; the field has focus when the page opens. ----------------------------
  var scanForm = $("scan-form"), link = $("link");

  // -- the camera ----------------------------------------------------------------------
  var button = $("camera"), box = $("camera-box"), video = $("video");
  var camStatus = $("camera-status");
  var stream = null, timer = null, detector = null, canvas = null;
  var haveCamera = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  var haveDecoder = ("BarcodeDetector" in window) || (typeof window.jsQR === "function");
  if (haveCamera) { button.hidden = false; }

  function stop() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    box.hidden = true;
    button.textContent = text.cameraGo;
  }

  function found(value) {
    stop();
    camStatus.textContent = text.cameraFound;
    link.value = value;
    scanForm.requestSubmit ? scanForm.requestSubmit() : scanForm.submit();
  }

  function decodeWithJsQR() {
    var w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) { return null; }
    canvas = canvas || document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, w, h);
    var img = ctx.getImageData(0, 0, w, h);
    var code = window.jsQR(img.data, w, h, { inversionAttempts: "dontInvert" });
    return code && code.data ? code.data : null;
  }

  function tick() {
    timer = null;
    if (!stream) { return; }
    var next = function () { if (stream) { timer = setTimeout(tick, 150); } };
    if (detector) {
      detector.detect(video).then(function (codes) {
        if (codes.length && codes[0].rawValue) { found(codes[0].rawValue); } else { next(); }
      }).catch(function () {
        // The platform's detector failed (or supports no QR): fall back to jsQR.
        detector = null; next();
      });
      return;
    }
    if (typeof window.jsQR === "function") {
      var value = decodeWithJsQR();
      if (value) { found(value); return; }
    }
    next();
  }

  function chooseDetector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }).catch(function () { return null; });
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); camStatus.textContent = ""; return; }
    if (!haveDecoder) { camStatus.textContent = text.cameraNodecoder; return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        box.hidden = false;
        button.textContent = text.cameraStop;
        camStatus.textContent = text.cameraOn;
        return video.play();
      })
      .then(chooseDetector)
      .then(function (d) {
        detector = d;
        if (!detector && typeof window.jsQR !== "function") {
          stop(); camStatus.textContent = text.cameraNodecoder; return;
        }
        tick();
      })
      .catch(function () { stop(); camStatus.textContent = text.cameraNone; });
  });
})();
