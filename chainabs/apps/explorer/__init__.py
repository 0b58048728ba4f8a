"""The investor and regulator explorer: a live web app over one deal, from chain data alone.

``chainabs explorer --rpc URL --spv ADDRESS`` serves it (:func:`chainabs.apps.explorer.server.serve`):

* :mod:`.indexer` reads the deal's events once, then follows the chain block by block (reorganisations
  undone, a node that stops answering retried) and keeps the pages' snapshot;
* :mod:`.views` turns the read side's tables into each page's data (JSON-ready);
* :mod:`.app` is the FastAPI app: server-rendered pages (Jinja2 templates), their JSON endpoints, the live
  stream of new blocks, the browser libraries (ethers, Chart.js) served from the project's node_modules;
* :mod:`.server` runs it (uvicorn), in the foreground or in a thread.

The browser side (``static/explorer.js``) swaps a page's content in when a new block changes it, draws the
charts and talks to the investor's wallet (EIP-1193) for claims. Endpoints: ``docs/explorer.md``.
"""
