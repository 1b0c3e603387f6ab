"""Django settings. Everything a deployment changes comes from the environment."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BASE_DIR.parent.parent
DATA_DIR = Path(os.environ.get("INVESTMAP_DATA_DIR", PROJECT_ROOT / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("INVESTMAP_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("INVESTMAP_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("INVESTMAP_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(
    ","
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "simple_history",
    "investmap.core",
    "investmap.engine",
    "investmap.resources",
    "investmap.matching",
    "investmap.efficiency",
    "investmap.projects",
    "investmap.policies",
    "investmap.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "investmap.urls"
WSGI_APPLICATION = "investmap.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "investmap.core.context_processors.investmap",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'investmap.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so the analysis engine can ATTACH the test database
    # (tests that read through the engine use transactional_db so rows are committed).
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["investmap.core.auth.LockoutBackend"]
INVESTMAP_LOGIN_MAX_FAILURES = int(os.environ.get("INVESTMAP_LOGIN_MAX_FAILURES", 5))
INVESTMAP_LOGIN_LOCK_MINUTES = int(os.environ.get("INVESTMAP_LOGIN_LOCK_MINUTES", 15))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "map"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = int(os.environ.get("INVESTMAP_SESSION_SECONDS", 8 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = DATA_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

# --- InvestMap settings -------------------------------------------------------
# The district's name in the title bar; empty: the name of the org tree's root unit.
INVESTMAP_DISTRICT_NAME = os.environ.get("INVESTMAP_DISTRICT_NAME", "")
# An optional raster tile URL template (Tianditu, AMap, OSM ...). Empty: the
# district's own town and park polygons are the base map, no network needed.
INVESTMAP_TILE_URL = os.environ.get("INVESTMAP_TILE_URL", "")
INVESTMAP_TILE_ATTRIBUTION = os.environ.get("INVESTMAP_TILE_ATTRIBUTION", "")
# Where the analysis engine keeps its DuckDB working file (":memory:" allowed).
INVESTMAP_ENGINE_PATH = os.environ.get("INVESTMAP_ENGINE_PATH", ":memory:")
# Largest number of features one map request returns (the rest is aggregated).
INVESTMAP_MAP_MAX_FEATURES = int(os.environ.get("INVESTMAP_MAP_MAX_FEATURES", 4000))
# Site matching (docs/matching.md): the radii (m) of the precomputed POI counts,
# the distance (m) within which two parcels are adjacent, when the derived
# tables are refreshed ("commit": right after each change; "lazy": at the next
# match or `investmap match rebuild`), and the default scoring weights.
INVESTMAP_MATCH_RADII = tuple(
    int(r) for r in os.environ.get("INVESTMAP_MATCH_RADII", "1000,3000").split(",") if r.strip()
)
INVESTMAP_MATCH_ADJACENCY_M = float(os.environ.get("INVESTMAP_MATCH_ADJACENCY_M", 1.0))
INVESTMAP_MATCH_REFRESH = os.environ.get("INVESTMAP_MATCH_REFRESH", "commit")
INVESTMAP_MATCH_WEIGHTS = {"area": 1.0, "price": 0.5, "near": 1.0, "combine_penalty": 0.1}
# Land-use efficiency (docs/efficiency.md): the ruleset used when none is named,
# extra folders of ruleset YAML files, the grades that make an occupied parcel
# low-efficiency land, and the share of the plot ratio below which a parcel's
# built floor area counts as "far below" it.
INVESTMAP_EFFICIENCY_RULESET = os.environ.get("INVESTMAP_EFFICIENCY_RULESET", "huangyan-2022")
INVESTMAP_EFFICIENCY_RULESET_DIRS = tuple(
    d for d in os.environ.get("INVESTMAP_EFFICIENCY_RULESET_DIRS", "").split(os.pathsep) if d
)
INVESTMAP_LOW_EFFICIENCY_GRADES = tuple(
    g.strip()
    for g in os.environ.get("INVESTMAP_LOW_EFFICIENCY_GRADES", "D").split(",")
    if g.strip()
)
INVESTMAP_LOW_FAR_SHARE = float(os.environ.get("INVESTMAP_LOW_FAR_SHARE", 0.5))
INVESTMAP_LOW_FAR_LAND_USES = tuple(
    u.strip()
    for u in os.environ.get("INVESTMAP_LOW_FAR_LAND_USES", "M0,M1,M2,M3,W1").split(",")
    if u.strip()
)
# Largest file an upload or import accepts, in bytes.
# Projects (docs/projects.md). Grades by total investment in 10k yuan, highest first;
# a strategic project is at least "key".
INVESTMAP_PROJECT_GRADE_BANDS = (("major", 100000.0), ("key", 10000.0), ("general", 0.0))
# Moves to signed and dropped of projects with these grades need a bureau decision.
INVESTMAP_PROJECT_APPROVAL_GRADES = tuple(
    g.strip()
    for g in os.environ.get("INVESTMAP_PROJECT_APPROVAL_GRADES", "major,key").split(",")
    if g.strip()
)
# Days without any activity after which a project in that stage is "stale".
INVESTMAP_PROJECT_STALE_DAYS = {
    "lead": 30,
    "negotiating": 30,
    "signed": 45,
    "registered": 60,
    "land_obtained": 60,
    "construction": 90,
    "completed": 90,
    "on_hold": 180,
}
INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS = int(
    os.environ.get("INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS", 90)
)
INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS = int(
    os.environ.get("INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS", 180)
)
INVESTMAP_PROJECT_PERFORMANCE_RULESET = os.environ.get(
    "INVESTMAP_PROJECT_PERFORMANCE_RULESET", "district-2025"
)
INVESTMAP_STANDARD_LAND_RULESET = os.environ.get(
    "INVESTMAP_STANDARD_LAND_RULESET", "wenling-dongbu-2021"
)
# Group robot webhooks for alerts (WeCom / DingTalk markdown messages), comma-separated.
INVESTMAP_WECOM_WEBHOOKS = tuple(
    u for u in os.environ.get("INVESTMAP_WECOM_WEBHOOKS", "").split(",") if u.strip()
)
INVESTMAP_DINGTALK_WEBHOOKS = tuple(
    u for u in os.environ.get("INVESTMAP_DINGTALK_WEBHOOKS", "").split(",") if u.strip()
)
# The site's public address, for links in e-mails and group-robot messages (e.g. https://investmap.example.gov.cn).
INVESTMAP_SITE_URL = os.environ.get("INVESTMAP_SITE_URL", "").rstrip("/")
EMAIL_BACKEND = os.environ.get(
    "INVESTMAP_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("INVESTMAP_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("INVESTMAP_EMAIL_PORT", 25))
DEFAULT_FROM_EMAIL = os.environ.get("INVESTMAP_EMAIL_FROM", "investmap@localhost")

# Stored policy matches: recomputed right after each enterprise/indicator/policy change
# ("commit") or only by `investmap policies refresh` ("off").
INVESTMAP_POLICY_REFRESH = os.environ.get("INVESTMAP_POLICY_REFRESH", "commit")

INVESTMAP_IMPORT_MAX_BYTES = int(os.environ.get("INVESTMAP_IMPORT_MAX_BYTES", 64 * 1024 * 1024))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("INVESTMAP_LOG_LEVEL", "WARNING")},
}
