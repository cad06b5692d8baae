// HubSpot's own lint rules for UI extensions (@hubspot/eslint-config-ui-extensions):
// what the card's sandbox does not have (native fetch, browser storage, HTML elements,
// imports other than HubSpot's components). Run by `npm run lint`, by `hs project lint`
// (which finds this file and the pinned packages, so it needs no download), and by
// ctest kit_hubspot_lint. The test file runs in Node under vitest, not in the sandbox.
import { config } from "@hubspot/eslint-config-ui-extensions";

export default [{ ignores: ["node_modules/**", "**/*.test.jsx"] }, ...config];
