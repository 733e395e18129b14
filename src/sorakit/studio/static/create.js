// The Create page's few behaviours, in plain JS over htmx: images dropped into the file input,
// an enhanced prompt taken or left, a drawn first frame left out (what to draw hints the video's
// prompt), and Enter in a typed field kept from creating (a rate limit's countdown is every
// page's: static/studio.js).
(() => {
  "use strict";

  const changed = (input) => input.dispatchEvent(new Event("change", { bubbles: true }));
  const zoneOf = (event) => (event.target instanceof Element ? event.target.closest("[data-drop-into]") : null);

  // Dropped files join those already chosen, so the form posts them like any upload.
  document.addEventListener("dragover", (event) => {
    const zone = zoneOf(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    const zone = zoneOf(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    const zone = zoneOf(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    const input = zone.querySelector(`input[type=file][name="${zone.dataset.dropInto}"]`);
    const dropped = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (!input || dropped.length === 0) return;
    const all = new DataTransfer();
    for (const file of [...input.files, ...dropped]) all.items.add(file);
    input.files = all.files;
    changed(input);
  });

  const fields = () => document.getElementById("create").elements;

  function remember(original, style, model) {
    const form = fields();
    form.enhanced_from.value = original;
    form.enhanced_style.value = style;
    form.enhanced_model.value = model;
  }

  function settle(panel, words, undo) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = words;
    panel.replaceChildren(note);
    if (undo) {
      const back = document.createElement("button");
      back.type = "button";
      back.className = "link";
      back.textContent = "Back to mine";
      back.addEventListener("click", () => {
        fields().prompt.value = fields().enhanced_from.value;
        remember("", "", "");
        panel.replaceChildren();
      });
      note.append(" ", back);
    }
  }

  document.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const use = event.target.closest("[data-use-enhanced]");
    if (use) {
      const data = use.dataset;
      fields().prompt.value = data.enhanced;
      remember(data.original, data.style, data.model);
      settle(use.closest("[data-enhancement]"), "Using the enhanced prompt; yours is kept with the job.", true);
      return;
    }
    const keep = event.target.closest("[data-keep-mine]");
    if (keep) {
      remember("", "", "");
      keep.closest("[data-enhancement]").replaceChildren();
      return;
    }
    // A drawn first frame left out: its hidden id goes, and the choices and preview follow.
    if (event.target.closest("[data-drop-drawn]")) {
      document.getElementById("drawn").replaceChildren();
      htmx.trigger(document.body, "drawn-changed");
      return;
    }
    const clear = event.target.closest("[data-clear-files]");
    if (clear) {
      const input = document.querySelector(`#create input[type=file][name="${clear.dataset.clearFiles}"]`);
      if (input && input.files.length) {
        input.value = "";
        changed(input);
      }
    }
  });

  // What to draw defaults to the video's prompt: the empty field shows it as its hint.
  document.addEventListener("input", (event) => {
    if (!(event.target instanceof Element) || !event.target.matches("#create textarea[name=prompt]")) return;
    const draw = document.querySelector("[data-draw-prompt]");
    if (draw) draw.placeholder = event.target.value.trim() || "The video's prompt";
  });

  // Enter in a typed seconds or size applies it; it never sends the form (a paid render).
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target instanceof Element && event.target.matches("[data-no-submit]")) {
      event.preventDefault();
      changed(event.target);
    }
  });
})();
