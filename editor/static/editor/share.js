// The share dialog: the sharing page (editor/sharing.py, templates/editor/share.html) shown
// over the editor in a modal <dialog>, each of its forms posted with fetch and the page that
// answers shown in its place. Every rule stays on the server: this only carries its page
// into the dialog, so errors, messages and a new link's one-time address appear there too.
// Without this module the Share link opens that page, which works on its own.

// Where focus goes once an answer is shown, in this order: what the answer has to say
// (a field it refused, else its error, the new link, its message).
const SAID = ['[aria-invalid="true"]', ".share-errors", "#share-new-link-url", ".share-messages"];
const CONTROLS = "input:not([type=hidden]), select, textarea, button:not([hidden]), a[href]";

/** A click that opens the link in this tab: others (a new tab, a window, a download) go to
 * the page itself. */
export function isPlainClick(event) {
  return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
}

/** What the dialog says when an answer holds no sharing page (`status` 0: no answer came). */
export function failureText(status) {
  if (status === 0) return "The server could not be reached: check the connection and try again.";
  // A share or a link removed meanwhile (another tab), or no right to share the document any more.
  if (status === 404) return "That is gone already, or you may no longer share this document.";
  // Most often a CSRF refusal: signed in again elsewhere, the page's token is old.
  if (status === 403) return "That was refused: reload the page and try again.";
  if (status >= 400) return `That did not work (error ${status}): try again.`;
  return "The sharing page did not open here: are you still signed in?"; // a login page, say
}

/** The sharing page's content in a parsed page, or null (a login or an error page): its
 * heading's text, and the rest without the way back to the document (the dialog is over it). */
export function sharePageParts(page) {
  const main = page.querySelector("main.share-main");
  if (main === null) return null;
  const heading = main.querySelector("h1");
  const title = heading?.textContent.trim() ?? "";
  heading?.remove();
  main.querySelector(".share-back")?.remove();
  return { title, nodes: [...main.childNodes] };
}

/** Make the copy buttons under `root` work: each copies the value of the field its
 * `data-copy` names, or, where the clipboard is refused, selects it for Ctrl+C, and says which
 * in the status its `data-copy-status` names. They are hidden until then: without
 * JavaScript the field is there to copy from by hand. */
export function enhanceCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    const field = root.querySelector(`#${CSS.escape(button.dataset.copy)}`);
    const status = root.querySelector(`#${CSS.escape(button.dataset.copyStatus)}`);
    if (field === null || status === null) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      status.textContent = "";
      try {
        await navigator.clipboard.writeText(field.value);
        status.textContent = "Copied";
      } catch {
        // No clipboard (a page served over plain HTTP has none) or refused: copy by hand.
        field.focus();
        field.select();
        status.textContent = "Selected: press Ctrl+C to copy";
      }
    });
  }
}

/** Open `link` (the editor's Share link) in `dialog` (its <dialog id="share-dialog">) rather
 * than as a page. Nothing happens where either is missing (the person may not share this
 * document) or the browser has no modal dialogs: the link goes to the page then. */
export function enhanceShareLink(link, dialog) {
  if (link === null || dialog === null || typeof dialog.showModal !== "function") return;
  const heading = document.getElementById(dialog.getAttribute("aria-labelledby"));
  const body = dialog.querySelector(".share-dialog-body");
  let pageUrl = link.href; // the page the dialog shows: its forms post there (they name no action)
  let asked = 0; // answers come back in any order: only the last question's is shown

  link.setAttribute("aria-haspopup", "dialog");
  link.addEventListener("click", (event) => {
    if (!isPlainClick(event)) return;
    event.preventDefault();
    body.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Loading…" }));
    dialog.showModal();
    show(link.href, {}, { opening: true });
  });
  dialog.querySelector(".share-dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (dialog.open) return; // "close" comes a task later: opened again meanwhile (Escape, Enter)
    asked += 1; // an answer still on its way is not shown
    body.removeAttribute("aria-busy");
    body.replaceChildren(); // a new link's address is shown once: not kept in the page either
    link.focus();
  });
  body.addEventListener("submit", (event) => {
    event.preventDefault();
    if (body.getAttribute("aria-busy") === "true") return; // one change at a time
    const form = event.target;
    const url = new URL(form.getAttribute("action") ?? "", pageUrl);
    // The CSRF token is one of the form's fields; a redirect (to the page with its message) is followed.
    show(url, { method: "POST", body: new FormData(form) });
  });

  async function show(url, init, { opening = false } = {}) {
    const question = ++asked;
    body.setAttribute("aria-busy", "true");
    let status = 0;
    let parts = null;
    try {
      const response = await fetch(url, { ...init, credentials: "same-origin" });
      status = response.status;
      parts = sharePageParts(new DOMParser().parseFromString(await response.text(), "text/html"));
      if (parts !== null) pageUrl = response.url;
    } catch {
      // no answer: status 0
    }
    if (question !== asked) return;
    body.removeAttribute("aria-busy");
    if (parts === null) {
      if (opening) body.replaceChildren(); // "Loading…"
      showFailure(failureText(status));
      return;
    }
    if (parts.title) heading.textContent = parts.title;
    body.replaceChildren(...parts.nodes);
    enhanceCopyButtons(body);
    const said = opening ? null : firstSaid(body);
    if (said === null) {
      body.querySelector(CONTROLS)?.focus();
    } else {
      focusOn(said);
      if (said.id === "share-new-link-url") said.select(); // ready for Ctrl+C as well as Copy
    }
  }

  /** The error above what the dialog showed (its forms stay, to try again), and a way to the page. */
  function showFailure(text) {
    body.querySelector(".share-dialog-error")?.remove();
    const error = Object.assign(document.createElement("p"), { className: "share-errors share-dialog-error" });
    error.setAttribute("role", "alert");
    const page = Object.assign(document.createElement("a"), { href: link.href, textContent: "Open the sharing page" });
    error.append(text, " ", page);
    body.prepend(error);
    focusOn(error);
  }
}

function firstSaid(root) {
  for (const selector of SAID) {
    const found = root.querySelector(selector);
    if (found !== null) return found;
  }
  return null;
}

/** Focus `element`, making it focusable first if it is text (a message, an error). */
function focusOn(element) {
  if (element.matches(".share-errors, .share-messages")) element.tabIndex = -1;
  element.focus();
}
