/** Returns its input unchanged: useful to inspect what an action receives. */
function main(params) {
    return params;
}
