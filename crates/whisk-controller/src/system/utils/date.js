/** Returns the current date and time as a string. */
function main() {
    return { date: new Date().toString() };
}
