// @ts-check
/**
 * The bearer token, when the deployment has tokens: asked for visibly on the first 401 (the form at
 * the top of the page), kept in this tab's sessionStorage only, and sent in the Authorization header
 * by api.js. It never goes into a URL.
 */
import { element } from "./dom.js";

const KEY = "edgeserve-token";

/** @type {Promise<void> | null} the question being asked: every 401 meanwhile waits for the same answer */
let asking = null;

/** @returns {string | null} */
export function storedToken() {
  return sessionStorage.getItem(KEY) || null;
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
  showForgetButton();
}

/**
 * Shows the token form and resolves once a token has been entered (and stored).
 * @param {"missing" | "refused"} reason none was sent, or the one sent was refused
 * @returns {Promise<void>}
 */
export function askForToken(reason) {
  const form = element("token-prompt", HTMLFormElement);
  form.dataset.reason = reason;
  element("token-message", HTMLElement).textContent = reason === "refused" ? "That token was refused: enter another one." : "Enter it to continue.";
  if (asking) return asking;
  asking = new Promise((resolve) => {
    const input = element("token", HTMLInputElement);
    form.hidden = false;
    input.focus();
    /** @param {SubmitEvent} event */
    const submit = (event) => {
      event.preventDefault();
      if (input.value === "") return;
      sessionStorage.setItem(KEY, input.value);
      input.value = "";
      form.hidden = true;
      form.removeEventListener("submit", submit);
      asking = null;
      showForgetButton();
      resolve();
    };
    form.addEventListener("submit", submit);
  });
  return asking;
}

export function showForgetButton() {
  element("token-forget", HTMLButtonElement).hidden = storedToken() === null;
}
