/** Sorts the array `lines` and reports how many there are. */
function main(params) {
    const lines = Array.isArray(params.lines) ? params.lines.slice() : [];
    lines.sort();
    return { lines: lines, length: lines.length };
}
