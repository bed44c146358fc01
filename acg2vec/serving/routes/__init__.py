"""The routes of ``acg2vec serve``, one APIRouter per area; :func:`acg2vec.serving.app.create_app` includes them."""
