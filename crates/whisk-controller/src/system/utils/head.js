/** Keeps the first `num` (default 1) entries of the array `lines`. */
function main(params) {
    const lines = Array.isArray(params.lines) ? params.lines : [];
    const num = Number.isInteger(params.num) ? params.num : 1;
    return { lines: lines.slice(0, num), num: num };
}
