/** Joins the array `lines` into one string `payload` (newline separated). */
function main(params) {
    const lines = Array.isArray(params.lines) ? params.lines : [];
    return { lines: lines, payload: lines.join("\n") };
}
