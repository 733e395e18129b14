// The Library's spritesheet scrub: over a card's thumbnail, the pointer's place from left to
// right picks a tile of the video's spritesheet (a grid of frames, left to right then down),
// so moving across the card plays the clip through. The grid comes from the card's data
// attributes, which the server writes; nothing here knows a tile's pixel size.
(() => {
  "use strict";

  function tileUnder(thumb, clientX) {
    const tiles = Number(thumb.dataset.tiles);
    const box = thumb.getBoundingClientRect();
    const across = Math.min(Math.max((clientX - box.left) / box.width, 0), 0.9999);
    return Math.floor(across * tiles);
  }

  function show(thumb, tile) {
    const columns = Number(thumb.dataset.columns);
    const rows = Number(thumb.dataset.rows);
    const scrub = thumb.querySelector(".scrub");
    if (!scrub || !columns || !rows) return;
    if (!scrub.style.backgroundImage) {  // fetched on the first hover only
      scrub.style.backgroundImage = `url("${thumb.dataset.sprite}")`;
      scrub.style.backgroundSize = `${columns * 100}% ${rows * 100}%`;
    }
    const column = tile % columns;
    const row = Math.floor(tile / columns);
    const x = columns > 1 ? (column * 100) / (columns - 1) : 0;
    const y = rows > 1 ? (row * 100) / (rows - 1) : 0;
    scrub.style.backgroundPosition = `${x}% ${y}%`;
    thumb.dataset.tile = String(tile);
    thumb.classList.add("scrubbing");
  }

  document.addEventListener("mousemove", (event) => {
    const thumb = event.target instanceof Element ? event.target.closest("[data-sprite]") : null;
    if (thumb) show(thumb, tileUnder(thumb, event.clientX));
  });

  // `mouseleave` does not bubble, but it passes the document in the capture phase.
  document.addEventListener("mouseleave", (event) => {
    const thumb = event.target;
    if (thumb instanceof Element && thumb.matches("[data-sprite]")) {
      thumb.classList.remove("scrubbing");
      delete thumb.dataset.tile;
    }
  }, true);
})();
