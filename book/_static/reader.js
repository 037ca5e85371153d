// Reader features for the book (see book/_ext/reader.py).
document.addEventListener("DOMContentLoaded", () => {
  // A click on a figure opens it at its natural size over the page; another click (or Escape) closes it.
  document.querySelectorAll(".cell_output img").forEach((img) => {
    img.addEventListener("click", () => {
      const overlay = document.createElement("div");
      overlay.className = "figure-zoom";
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-label", "figure at full size; click to close");
      const big = document.createElement("img");
      big.src = img.src;
      big.alt = img.alt;
      overlay.appendChild(big);
      const close = () => { overlay.remove(); document.removeEventListener("keydown", onKey); };
      const onKey = (e) => { if (e.key === "Escape") close(); };
      overlay.addEventListener("click", close);
      document.addEventListener("keydown", onKey);
      document.body.appendChild(overlay);
    });
  });
});
