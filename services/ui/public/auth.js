/**
 * The API key the UI sends (`Authorization: Bearer …`) when Jetstep asks for one (`jetstep start`
 * with API keys; `jetstep dev` asks for none). Asked once, kept for the browser session only
 * (sessionStorage: gone when the tab closes), and asked again if Jetstep refuses it.
 */
const STORAGE_KEY = "jetstep.apiKey";
let asking = null;

export function apiKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    return "";
  }
}

/** `headers` plus the Authorization header when a key is known. */
export function withAuth(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, authorization: `Bearer ${key}` } : headers;
}

/**
 * Jetstep answered 401: forget the key and ask for one (one dialog however many requests wait).
 * Resolves once the user gave a key.
 */
export function askForKey(message) {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage unavailable: the key lives for this page only
  }
  asking ??= new Promise((resolve) => {
    const dialog = document.getElementById("api-key-dialog");
    const form = dialog.querySelector("form");
    const input = document.getElementById("api-key-input");
    document.getElementById("api-key-reason").textContent = message || "";
    input.value = "";
    const submit = (e) => {
      e.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      try {
        sessionStorage.setItem(STORAGE_KEY, key);
      } catch {
        // storage unavailable
      }
      form.removeEventListener("submit", submit);
      dialog.close();
      asking = null;
      resolve(key);
    };
    form.addEventListener("submit", submit);
    if (typeof dialog.showModal === "function") dialog.showModal();
    else dialog.setAttribute("open", "");
    input.focus();
  });
  return asking;
}
