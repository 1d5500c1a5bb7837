/** Returns the namespace of the key that invoked this action (the caller's namespace). */
function main() {
    return { namespace: process.env.__OW_NAMESPACE };
}
