// A single-page app: every page renders in the browser, against the API.
export const ssr = false;
export const prerender = false;
