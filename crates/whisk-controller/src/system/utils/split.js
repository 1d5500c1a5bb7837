/** Splits the string `payload` at `separator` (default newline) into `lines`. */
function main(params) {
    const payload = typeof params.payload === "string" ? params.payload : "";
    const separator = params.separator === undefined ? "\n" : String(params.separator);
    return { lines: payload.split(separator), payload: payload };
}
