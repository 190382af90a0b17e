"""Static files with DEBUG off: hashed names, cached for good, and collected before a worker starts.

``collectstatic`` writes each file under a name with a hash of its content
(``editor/main.3f2a….js``) and a manifest mapping the names templates use to
those. WhiteNoise serves such names with a ten-year ``immutable`` cache, so a
deploy changes the names the page loads instead of hoping caches expire: a
browser never runs old JavaScript against new workers, nor half old, half new.
With DEBUG on (``runserver``) none of this applies: Django's default storage,
the apps' files under their own names.
"""

from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage (hashed names, gzipped copies; Brotli ones too where the
    ``brotli`` package is installed, which requirements.txt leaves out), for ES modules too.

    ``support_js_module_import_aggregation`` makes collectstatic rewrite, in every ``.js``
    file, ``import … from "./x.js";``, ``export … from "./x.js";``, ``import "./x.js";`` and
    ``import("./x.js")`` to the hashed names, so that modules loaded by ``main.js`` are
    versioned with it. Django's patterns need the semicolon after a static import or
    export, and a cycle between modules exceeds its passes; tests/test_static_files.py
    walks the served import graph.
    """

    support_js_module_import_aggregation = True
    # A template naming a file that was not collected fails (500 and a traceback)
    # rather than linking to a name nobody serves.
    manifest_strict = True


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's middleware, which refuses to start where it would have nothing to serve.

    With the manifest storage every page's ``{% static %}`` needs the manifest that
    collectstatic writes; without it, the worker would start and answer 500 on each
    page. The middleware is built when the ASGI application is (a worker's start),
    and never by collectstatic itself, which is why the check is here and not in
    settings or in the storage.
    """

    def __init__(self, get_response=None, settings=settings) -> None:
        storage = storages[STATICFILES_STORAGE_ALIAS]
        if isinstance(storage, ManifestFilesMixin) and storage.read_manifest() is None:
            raise ImproperlyConfigured(
                "DEBUG is off: run python manage.py collectstatic --noinput first, with the same "
                f"settings (STATIC_ROOT {settings.STATIC_ROOT} has no {storage.manifest_name}); "
                "pages name their static files by the hashed names it writes"
            )
        super().__init__(get_response, settings)
