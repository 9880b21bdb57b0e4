// The one way the UI talks to the server: GraphQL over a same-origin JSON POST.
import { sentence } from "./dom.js";

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

// What a person should read when the server's own message is not meant for them.
const SENTENCES = {
  UNAUTHENTICATED: "Please sign in to continue.",
  FORBIDDEN: "Your account is not allowed to do this.",
  GRAPHQL_VALIDATION_FAILED: "This page does not match the server's version. Reload the page and try again.",
  NETWORK: "The server could not be reached. Check your connection and try again.",
  INTERNAL: "Something went wrong on the server. Try again in a moment.",
};

function toSentence(error) {
  const code = error.extensions?.code || "INTERNAL";
  const message = (error.message || "").trim();
  if (["BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED"].includes(code) && message) {
    return sentence(message);
  }
  return SENTENCES[code] || SENTENCES.INTERNAL;
}

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError(SENTENCES.NETWORK, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(response.status === 413 ? "That is too much at once; send fewer entries." : SENTENCES.INTERNAL, "INTERNAL");
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(toSentence(first), first.extensions?.code || "INTERNAL");
  }
  return body.data;
}
