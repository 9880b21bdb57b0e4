// Sign-in, sign-out and "who am I", shared by the manager pages and My learning.
import { gql } from "./api.js";
import { h, notice, replace } from "./dom.js";

const VIEWER_FIELDS = "username displayName isAdmin";

export async function currentViewer() {
  try {
    const data = await gql(`query Viewer { viewer { ${VIEWER_FIELDS} } }`);
    return data.viewer;
  } catch (error) {
    if (error.code === "UNAUTHENTICATED") return null;
    throw error;
  }
}

export async function signOut() {
  await gql("mutation SignOut { signOut }");
}

// Renders the sign-in form into container; resolves with the viewer once signed in.
export function signInForm(container, { heading, hint }) {
  return new Promise((resolve) => {
    const status = h("div", { class: "form-status", "aria-live": "polite" });
    const username = h("input", { id: "signin-username", name: "username", autocomplete: "username", required: true });
    const password = h("input", {
      id: "signin-password",
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const submit = h("button", { type: "submit", class: "button" }, "Sign in");
    const form = h(
      "form",
      { class: "card narrow", "aria-labelledby": "signin-heading" },
      h("h1", { id: "signin-heading" }, heading),
      hint ? h("p", { class: "muted" }, hint) : null,
      h("label", { for: "signin-username" }, "Username"),
      username,
      h("label", { for: "signin-password" }, "Password"),
      password,
      h("div", { class: "actions" }, submit),
      status,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      replace(status);
      try {
        const data = await gql(`mutation SignIn($username: String!, $password: String!) { signIn(username: $username, password: $password) { ${VIEWER_FIELDS} } }`, {
          username: username.value.trim(),
          password: password.value,
        });
        resolve(data.signIn);
      } catch (error) {
        replace(status, notice("error", error.message));
        password.value = "";
        password.focus();
      } finally {
        submit.disabled = false;
      }
    });
    replace(container, form);
    username.focus();
  });
}

// The header's right side: who is signed in and a sign-out button.
export function renderAccount(slot, viewer, onSignedOut) {
  if (!viewer) {
    replace(slot);
    return;
  }
  const button = h("button", { type: "button", class: "button secondary small" }, "Sign out");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await signOut();
    } finally {
      replace(slot);
      onSignedOut();
    }
  });
  replace(slot, h("span", { class: "who" }, viewer.displayName || viewer.username), button);
}
