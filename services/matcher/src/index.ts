export { buildMatcher, type Matcher, type MatcherDeps } from "./matcher.ts";
export { nameMatches, TriggerIndex } from "./triggers.ts";
