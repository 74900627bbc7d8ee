'use strict';
// Node test files (scripts/conformance.js) expected to fail on rhttps, each with why. A file
// leaves this list when it passes; the runner says so.

module.exports = {
};
