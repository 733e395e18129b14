// What every studio page shares: a rate limit's countdown that holds the buttons that would
// start paid work (forms marked `data-creates`) until the key may try again.
(() => {
  "use strict";

  // A rate limit's answer carries its seconds: hold every create button until they pass.
  function countDown(root) {
    for (const box of root.querySelectorAll("[data-retry-after]:not([data-counting])")) {
      box.dataset.counting = "yes";
      let left = Number.parseInt(box.dataset.retryAfter, 10) || 0;
      const seconds = box.querySelector(".seconds");
      for (const button of document.querySelectorAll("[data-creates] button[type=submit], [data-creates] button[data-draw]")) {
        button.disabled = true;
        button.dataset.heldByLimit = "yes";
      }
      const release = () => {
        box.textContent = "You can try again now.";
        for (const button of document.querySelectorAll("[data-held-by-limit]")) {
          button.disabled = false;
          delete button.dataset.heldByLimit;
        }
      };
      if (left <= 0) {
        release();
        continue;
      }
      const timer = setInterval(() => {
        left -= 1;
        if (seconds) seconds.textContent = String(Math.max(left, 0));
        if (left <= 0) {
          clearInterval(timer);
          release();
        }
      }, 1000);
    }
  }
  document.addEventListener("htmx:afterSettle", () => countDown(document));
  document.addEventListener("DOMContentLoaded", () => countDown(document));
})();
