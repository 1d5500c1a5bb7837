// OpenWhisk's JS client (`openwhisk` npm package) managing API routes on a live whiskd, as
// its own routes integration test does, plus a path-parameter route called over HTTP.
// Run by crates/whiskd/tests/apigw.rs with NODE_PATH at target/js-client/node_modules and
// __OW_API_HOST, __OW_API_KEY, __OW_APIGW_TOKEN, __OW_IGNORE_CERTS set. Prints one JSON
// line of what it saw; throws (exit code 1) on a client error.
'use strict'

const openwhisk = require('openwhisk')

async function main () {
  const ow = openwhisk({ apigw_token: process.env.__OW_APIGW_TOKEN, apigw_space_guid: 'not-a-guid' })
  const seen = {}
  // The upstream test: an action with empty code, a POST route, list, delete.
  await ow.actions.create({ actionName: 'routeAction', action: '' })
  await ow.routes.create({ action: 'routeAction', basepath: '/testing', relpath: '/foo/bar', operation: 'POST' })
  const listed = await ow.routes.list({ basepath: '/testing' })
  seen.count = listed.apis.length
  const apidoc = listed.apis[0].value.apidoc
  seen.basePath = apidoc.basePath
  seen.action = apidoc.paths['/foo/bar'].post['x-openwhisk'].action
  seen.keyStored = JSON.stringify(listed).includes(process.env.__OW_API_KEY.split(':')[1])
  await ow.routes.delete({ basepath: '/testing' })
  seen.afterDelete = (await ow.routes.list({ basepath: '/testing' })).apis.length
  await ow.actions.delete({ actionName: 'routeAction' })

  // A web action behind a route with a path parameter, called through the URL it got.
  await ow.actions.create({
    actionName: 'book',
    action: 'function main(p) { return { statusCode: 200, body: { isbn: p.isbn, q: p.q, path: p.__ow_path } } }',
    annotations: { 'web-export': true }
  })
  const created = await ow.routes.create({
    action: 'book', basepath: '/lib', relpath: '/books/{isbn}', operation: 'GET', responsetype: 'http', name: 'Library'
  })
  seen.url = created.gwApiUrl
  const res = await fetch(`${created.gwApiUrl}/books/42?q=x`)
  seen.status = res.status
  seen.body = await res.json()
  seen.all = (await ow.routes.list()).apis.map(a => a.value.apidoc.info.title)
  await ow.routes.delete({ basepath: '/lib', relpath: '/books/{isbn}', operation: 'GET' })
  seen.gone = (await fetch(`${created.gwApiUrl}/books/42`)).status
  console.log(JSON.stringify(seen))
}

main().catch(err => {
  console.error(err && err.message ? err.message : err)
  process.exit(1)
})
