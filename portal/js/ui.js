// The page's status line (polite) and alert box (assertive), shared by every view.
import { ApiError } from "./api.js";

export const ui = {
  say(message) {
    document.getElementById("status").textContent = message;
  },
  fail(error) {
    const box = document.getElementById("alert");
    let text = error instanceof ApiError
      ? `${error.message}${error.field ? ` (field ${error.field})` : ""}`
      : String((error && error.message) || error);
    if (error instanceof ApiError && error.status === 401) {
      text = `${text}. Your session has ended: open the portal again from your account.`;
    }
    box.textContent = text;
    box.hidden = false;
  },
  clear() {
    const box = document.getElementById("alert");
    box.hidden = true;
    box.textContent = "";
  },
};

/** Run ``action`` for a button: busy while it runs, errors shown, ``done`` message announced. */
export async function act(button, action, done) {
  ui.clear();
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const result = await action();
    if (done) ui.say(typeof done === "function" ? done(result) : done);
    return result;
  } catch (error) {
    ui.fail(error);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
