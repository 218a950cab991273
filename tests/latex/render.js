// Renders formulas with KaTeX in strict mode, as tests/test_latex.py asks:
// reads a JSON list of LaTeX formulas from stdin, renders each in display
// mode with every strict-mode warning an error, and exits 1 at the first
// that fails, printing the formula and KaTeX's message.
"use strict";
const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
    const formulas = JSON.parse(input);
    for (const [index, formula] of formulas.entries()) {
        try {
            katex.renderToString(formula, { displayMode: true, strict: "error", throwOnError: true });
        } catch (error) {
            process.stderr.write(`formula ${index + 1} of ${formulas.length}: ${error.message}\n${formula}\n`);
            process.exit(1);
        }
    }
    process.stdout.write(`rendered ${formulas.length} formulas\n`);
});
