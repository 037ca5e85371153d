// Reader features for the book (see book/_ext/reader.py).
document.addEventListener("DOMContentLoaded", () => {
  // The theme (pydata-sphinx-theme 0.17 with sphinx-book-theme 1.3) renders two copies of each
  // sidebar toggle and binds its handlers to the first one only, which is hidden at every width:
  // the visible buttons did nothing (on a phone the menu could not be opened). Forward their
  // clicks to the bound copy, which opens the sidebar (narrow) or collapses it (wide).
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [bound, ...others] = document.querySelectorAll(selector);
    others.forEach((button) => button.addEventListener("click", (event) => {
      event.preventDefault();
      event.stopPropagation();
      bound.click();
    }));
  }

  // Tables with more than five columns become stacked cards (see reader.css): each cell labelled
  // with its column's header, so nothing is cut off at the column's edge or on a phone. A table a
  // page printed (a cell's output, such as the progress bars' metrics table) stays a table while it
  // fits the column, and becomes cards only where it would not (on a phone).
  document.querySelectorAll("article table").forEach((table) => {
    const headers = [...table.querySelectorAll("thead th")].map((th) => th.innerText.trim());
    if (table.closest(".cell_output")) {
      if (table.scrollWidth <= table.parentElement.clientWidth + 1) return;
    } else if (headers.length <= 5) return;
    table.classList.add("table-stacked");
    table.querySelectorAll("tbody tr").forEach((row) => {
      [...row.children].forEach((cell, i) => cell.setAttribute("data-label", headers[i] || ""));
    });
  });
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
