#!/usr/bin/env bash
# Deploy the CRM Telegram bot (webhook, notify and admin Cloud Functions) into a Google Cloud project.
# Safe to run again: what exists is kept (secrets keep their values), the functions are redeployed.
# Written for bash 3.2 too (macOS), so no associative arrays or mapfile.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
RUNTIME="python312"
FUNCTIONS="webhook notify admin"
SECRETS="TG_BOT_TOKEN TG_WEBHOOK_SECRET NOTIFY_SIGNING_SECRET ADMIN_API_TOKEN LINK_CODE_API_TOKEN GEMINI_API_KEY"
# The HS256 key of the tokens the bot signs for a CRM it calls (CRM_BACKEND=rest): created and mounted into all
# three functions then only, so a firestore deploy has no key that nothing checks (not in infra/roles.json).
CRM_SECRET="CRM_SIGNING_SECRET"
APIS="cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
artifactregistry.googleapis.com firestore.googleapis.com secretmanager.googleapis.com iam.googleapis.com
cloudresourcemanager.googleapis.com logging.googleapis.com"
RETRY_DELAY="${DEPLOY_RETRY_DELAY:-10}"

PROJECT=""
REGION="europe-west1"
FIRESTORE_LOCATION=""
WEBSITE_URL_FLAG=""
# Where the CRM's data lives: CRM_BACKEND and CRM_API_URL from the environment, or --crm-api-url (which means
# rest); when none is given, what the deployed webhook has, so that a re-run never moves the bot off its CRM.
CRM_BACKEND="${CRM_BACKEND:-}"
CRM_API_URL="${CRM_API_URL:-}"
CRM_URL_FLAG=""
# Passed to every function when set in deploy.sh's environment (see the README's configuration table).
OPTIONAL_SETTINGS="BOT_TIME_ZONE GEMINI_MODEL ASSISTANT_MESSAGES_PER_MINUTE ASSISTANT_DAILY_TOKEN_BUDGET ASSISTANT_TURN_SECONDS
PASSWORD_CHECK_SECONDS CRM_API_TIMEOUT_SECONDS"
BUILD_DIR="$ROOT/build"
NOTIFY_INVOKERS=""
DRY_RUN=0
TOKEN_ONLY=0
TEARDOWN=0
ASSUME_YES=0

usage() {
  cat <<'EOF'
Usage: ./deploy.sh --project ID [options]
       ./deploy.sh --teardown --project ID [--yes]

Deploys the CRM Telegram bot into a Google Cloud project: enables the APIs, creates a service
account per function, stores the secrets in Secret Manager, creates the Firestore database with
its indexes and TTL policies, deploys the webhook, notify and admin functions (gen2, HTTP), then
points Telegram's webhook at the bot and publishes its command menu.
Running it again is safe: existing secrets, accounts, database and indexes are kept.

Options:
  --project ID              Google Cloud project id (required)
  --region REGION           region of the functions (default: europe-west1)
  --firestore-location LOC  location of a new Firestore database (default: the region)
  --website-url URL         WEBSITE_URL, the CRM site that messages link to
                            (default: keep the deployed value)
  --crm-api-url URL         CRM_API_URL, the base URL of the CRM's connector API (docs/crm-connector.md);
                            means CRM_BACKEND=rest (default: keep the deployed CRM settings)
  --token-only              let anyone reach notify and admin; they still require the signature
                            or bearer token (default: IAM only, callers need roles/run.invoker)
  --notify-invoker MEMBER   let MEMBER call notify, e.g. serviceAccount:crm@p.iam.gserviceaccount.com
                            (repeatable)
  --build-dir DIR           where the bundles are built (default: build/)
  --dry-run                 print every command instead of running it; changes nothing
  --teardown                delete the functions, service accounts and secrets (asks first);
                            Firestore data is kept
  --yes                     do not ask before --teardown deletes
  -h, --help                show this help

Environment:
  TG_BOT_TOKEN     the bot token from @BotFather, needed on the first run (asked for in a terminal)
  GEMINI_API_KEY   optional, stored on the first run; without it the assistant is off
  CRM_BACKEND      firestore (the CRM writes the bot's Firestore) or rest (the bot calls the CRM's API);
                   default: the deployed value, firestore on a first deploy
  CRM_API_URL      the CRM's connector URL, needed with rest (or --crm-api-url); alone, it means rest
  CRM_SIGNING_SECRET
                   with rest: stored on the first rest deploy (default: openssl rand -hex 32); the bot
                   signs its tokens for the CRM with it, so the CRM needs it too
  BOT_TIME_ZONE, GEMINI_MODEL, ASSISTANT_MESSAGES_PER_MINUTE, ASSISTANT_DAILY_TOKEN_BUDGET,
  ASSISTANT_TURN_SECONDS, PASSWORD_CHECK_SECONDS, CRM_API_TIMEOUT_SECONDS
                   optional; when set, passed to the functions (see the README)
EOF
}

say() { printf '==> %s\n' "$*" >&3; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ----- showing and running commands -----
# Commands are shown on fd 3 (the terminal's stdout) so that $(...) never captures them.
exec 3>&1

quote() {
  case "$1" in
    '' | *[!A-Za-z0-9_./:=,@%+-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf '%s' "$1" ;;
  esac
}

show() {
  local line="+" arg
  for arg in "$@"; do line="$line $(quote "$arg")"; done
  printf '%s\n' "$line" >&3
}

# A command that changes something: shown, and run unless --dry-run.
run() {
  show "$@"
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  "$@"
}

# Like run, for IAM grants that can fail for a minute while a new service account propagates.
run_retrying() {
  show "$@"
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if "$@"; then return 0; fi
    if [[ $attempt == 6 ]]; then break; fi
    warn "attempt $attempt failed, retrying in ${RETRY_DELAY}s (new service accounts take a moment to appear)"
    sleep "$RETRY_DELAY"
  done
  die "gave up on: $*"
}

# A read-only check: true when the command succeeds. --dry-run shows it and plans for a fresh project.
succeeds() {
  if [[ $DRY_RUN == 1 ]]; then
    show "$@"
    return 1
  fi
  "$@" >/dev/null 2>&1
}

# The output of a read-only command; --dry-run shows it and answers PLACEHOLDER instead.
output_of() {
  local placeholder=$1
  shift
  if [[ $DRY_RUN == 1 ]]; then
    show "$@"
    printf '%s' "$placeholder"
    return 0
  fi
  "$@"
}

plan() { "$PYTHON" "$ROOT/scripts/infra_plan.py" "$@"; }

# infra/roles.json as lines of WHO<TAB>SERVICE-ACCOUNT<TAB>ROLE,...<TAB>SECRET,... (loaded in main)
IAM_TABLE=""

# WHO (webhook, notify, admin, build) and what: service-account, roles or secrets (space-separated).
iam() {
  local column
  case "$2" in
    service-account) column=2 ;;
    roles) column=3 ;;
    secrets) column=4 ;;
  esac
  awk -F '\t' -v who="$1" -v column="$column" '$1 == who { gsub(",", " ", $column); print $column }' <<<"$IAM_TABLE"
}

# ----- names -----
function_name() { printf 'crm-bot-%s' "$1"; }

service_account_email() { printf '%s@%s.iam.gserviceaccount.com' "$(iam "$1" service-account)" "$PROJECT"; }

entry_point() {
  case "$1" in
    webhook) printf 'telegram_webhook' ;;
    notify) printf 'notify' ;;
    admin) printf 'admin' ;;
  esac
}

# Memory, timeout and instances per function. The code plans for 60 s (the assistant's turn and notify's
# delivery budget stop at 40 s; Telegram waits 60 s for the webhook); the webhook also loads the Gemini
# client. notify runs as one instance serving NOTIFY_CONCURRENCY requests at once, so that they all share
# its pacer and stay under Telegram's limits together (more than one request at a time needs a whole vCPU).
NOTIFY_CONCURRENCY=8
resources() {
  case "$1" in
    webhook) printf -- '--memory=512Mi --timeout=60s --max-instances=10' ;;
    notify) printf -- '--memory=512Mi --cpu=1 --concurrency=%s --timeout=60s --max-instances=1' "$NOTIFY_CONCURRENCY" ;;
    admin) printf -- '--memory=256Mi --timeout=60s --max-instances=10' ;;
  esac
}

# ----- arguments -----
parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --project | --region | --firestore-location | --website-url | --crm-api-url | --notify-invoker | --build-dir)
        [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see ./deploy.sh --help)"
        set_option "$1" "$2"
        shift 2
        ;;
      --project=* | --region=* | --firestore-location=* | --website-url=* | --crm-api-url=* | --notify-invoker=* | \
        --build-dir=*)
        [[ -n ${1#*=} ]] || die "${1%%=*} needs a value (see ./deploy.sh --help)"
        set_option "${1%%=*}" "${1#*=}"
        shift
        ;;
      --dry-run) DRY_RUN=1 && shift ;;
      --token-only) TOKEN_ONLY=1 && shift ;;
      --teardown) TEARDOWN=1 && shift ;;
      --yes) ASSUME_YES=1 && shift ;;
      -h | --help) usage && exit 0 ;;
      *) die "unknown argument '$1' (see ./deploy.sh --help)" ;;
    esac
  done
  [[ -n $PROJECT ]] || die "--project is required: ./deploy.sh --project YOUR_PROJECT_ID (see --help)"
  FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-$REGION}
}

set_option() {
  case "$1" in
    --project) PROJECT=$2 ;;
    --region) REGION=$2 ;;
    --firestore-location) FIRESTORE_LOCATION=$2 ;;
    --website-url) WEBSITE_URL_FLAG=$2 ;;
    --crm-api-url) CRM_URL_FLAG=$2 ;;
    --notify-invoker) NOTIFY_INVOKERS="$NOTIFY_INVOKERS $2" ;;
    --build-dir) BUILD_DIR=$2 ;;
  esac
}

# What the operator asked of the CRM must hold on its own: checked before any gcloud call.
check_crm_settings() {
  if [[ -n $CRM_URL_FLAG ]]; then CRM_API_URL=$CRM_URL_FLAG; fi
  if [[ -n $CRM_API_URL && -z $CRM_BACKEND ]]; then CRM_BACKEND=rest; fi
  case "$CRM_BACKEND" in
    '' | firestore | rest) ;;
    *) die "CRM_BACKEND must be firestore (the CRM writes the bot's Firestore) or rest (the bot calls the CRM's" \
      "API), not '$CRM_BACKEND'" ;;
  esac
  if [[ $CRM_BACKEND == rest && -z $CRM_API_URL ]]; then
    die "CRM_BACKEND=rest needs the base URL of the CRM's connector API: pass --crm-api-url https://your-crm/..." \
      "(or set CRM_API_URL); see docs/crm-connector.md"
  fi
  if [[ $CRM_BACKEND == firestore && -n $CRM_API_URL ]]; then
    die "CRM_BACKEND=firestore does not call the CRM, so it takes no CRM URL: leave out --crm-api-url and" \
      "CRM_API_URL, or set CRM_BACKEND=rest"
  fi
  if [[ -n $CRM_API_URL ]]; then
    # The bot uses it without a trailing slash, and the CRM checks its tokens' aud against exactly that.
    while [[ $CRM_API_URL == */ ]]; do CRM_API_URL=${CRM_API_URL%/}; done
    [[ $CRM_API_URL =~ ^https?://[^/,[:space:]]+[^,[:space:]]*$ ]] ||
      die "--crm-api-url (CRM_API_URL) must be an http(s) URL without commas or spaces, got '$CRM_API_URL'"
    [[ $CRM_API_URL == https://* ]] ||
      warn "CRM_API_URL is not https: the bot's tokens and the CRM's answers would cross the network unencrypted"
  fi
  # The functions refuse to start with another value (shared/config.py), so refuse it here, before deploying.
  local timeout=${CRM_API_TIMEOUT_SECONDS:-}
  if [[ -n $timeout ]]; then
    [[ $timeout =~ ^[0-9]*\.?[0-9]+$ ]] || timeout=-1
    awk -v t="$timeout" 'BEGIN { exit !(t > 0 && t <= 30) }' ||
      die "CRM_API_TIMEOUT_SECONDS must be a number of seconds above 0 and at most 30, got '$CRM_API_TIMEOUT_SECONDS'"
  fi
}

require_tools() {
  local tool
  for tool in gcloud curl openssl "$PYTHON"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (see the Deploy section of README.md)"
  done
}

# ----- 0. the bot token, before anything changes -----
BOT_TOKEN_SOURCE="TG_BOT_TOKEN from the environment"

resolve_bot_token() {
  if [[ -z ${TG_BOT_TOKEN:-} ]]; then
    if [[ $DRY_RUN == 1 ]]; then
      BOT_TOKEN_SOURCE="TG_BOT_TOKEN (not set: a real run asks for it or stops)"
      return 0
    fi
    if succeeds gcloud secrets describe TG_BOT_TOKEN --project="$PROJECT"; then
      return 0
    fi
    if [[ -t 0 ]]; then
      read -r -s -p "Telegram bot token (from @BotFather): " TG_BOT_TOKEN || true
      printf '\n' >&2
      BOT_TOKEN_SOURCE="the bot token you typed"
    fi
    [[ -n ${TG_BOT_TOKEN:-} ]] || die "TG_BOT_TOKEN is not set and project $PROJECT has no TG_BOT_TOKEN secret yet:" \
      "create a bot with @BotFather, then run TG_BOT_TOKEN=<its token> ./deploy.sh --project $PROJECT" \
      "(or run ./deploy.sh in a terminal to be asked for it)"
  fi
  [[ $TG_BOT_TOKEN =~ ^[0-9]+:[A-Za-z0-9_-]+$ ]] ||
    die "TG_BOT_TOKEN does not look like a bot token (digits, a colon, then letters): copy it again from @BotFather"
}

# ----- 1. APIs and service accounts -----
enable_apis() {
  # shellcheck disable=SC2086 # one word per API
  run gcloud services enable $APIS --project="$PROJECT"
}

ensure_service_account() {
  local who=$1 id email roles role
  id=$(iam "$who" service-account)
  email=$(service_account_email "$who")
  if succeeds gcloud iam service-accounts describe "$email" --project="$PROJECT"; then
    say "service account $email exists"
  else
    run gcloud iam service-accounts create "$id" --display-name="CRM bot: $who" --project="$PROJECT"
  fi
  roles=$(iam "$who" roles)
  for role in $roles; do
    run_retrying gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$email" \
      --role="$role" --condition=None --quiet >/dev/null
  done
}

# ----- 2. the CRM and the secrets -----
# The deployed webhook's value of an environment variable, or nothing (--dry-run: a fresh project).
deployed_setting() {
  output_of "" gcloud functions describe "$(function_name webhook)" --region="$REGION" \
    --format="value(serviceConfig.environmentVariables.$1)" --project="$PROJECT" 2>/dev/null || true
}

# Without CRM_BACKEND, CRM_API_URL or --crm-api-url, keep what is deployed: a re-run (to rotate a secret, say)
# must not move a rest bot back to the default, firestore, where it would find none of its CRM's users.
resolve_crm() {
  if [[ -z $CRM_BACKEND ]]; then
    CRM_BACKEND=$(deployed_setting CRM_BACKEND)
    case "$CRM_BACKEND" in
      '' | firestore | rest) ;;
      *) die "the deployed functions have CRM_BACKEND=$CRM_BACKEND, which is neither firestore nor rest:" \
        "set CRM_BACKEND (and, for rest, --crm-api-url) to the one you want" ;;
    esac
    if [[ $CRM_BACKEND == rest ]]; then
      CRM_API_URL=$(deployed_setting CRM_API_URL)
      [[ -n $CRM_API_URL ]] || die "the deployed functions have CRM_BACKEND=rest but no CRM_API_URL:" \
        "pass --crm-api-url https://your-crm/... (or CRM_BACKEND=firestore)"
      say "keeping the deployed CRM_BACKEND=rest, CRM_API_URL=$CRM_API_URL (CRM_BACKEND=firestore to leave it)"
    elif [[ -n $CRM_BACKEND ]]; then
      say "keeping the deployed CRM_BACKEND=$CRM_BACKEND"
    fi
  fi
  say "CRM: ${CRM_BACKEND:-firestore}${CRM_API_URL:+ at $CRM_API_URL}"
}

PRESENT_SECRETS=""

secret_present() { [[ " $PRESENT_SECRETS " == *" $1 "* ]]; }

create_secret() {
  local name=$1 source=$2 value=$3
  local line="+ printf '%s' <$source> |"
  local arg
  for arg in gcloud secrets create "$name" --data-file=- --replication-policy=automatic --project="$PROJECT"; do
    line="$line $(quote "$arg")"
  done
  printf '%s\n' "$line" >&3
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  printf '%s' "$value" | gcloud secrets create "$name" --data-file=- --replication-policy=automatic \
    --project="$PROJECT" >/dev/null
}

generate_secret() {
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  openssl rand -hex 32
}

ensure_secret() {
  local name=$1
  if succeeds gcloud secrets describe "$name" --project="$PROJECT"; then
    say "secret $name exists: keeping its value"
    if [[ " TG_BOT_TOKEN GEMINI_API_KEY $CRM_SECRET " == *" $name "* && -n ${!name:-} ]]; then
      say "  (to replace it: printf '%s' \"\$$name\" | gcloud secrets versions add $name --data-file=- --project=$PROJECT; then run ./deploy.sh again)"
    fi
    PRESENT_SECRETS="$PRESENT_SECRETS $name"
    return 0
  fi
  case "$name" in
    TG_BOT_TOKEN)
      create_secret "$name" "$BOT_TOKEN_SOURCE" "${TG_BOT_TOKEN:-}"
      ;;
    GEMINI_API_KEY)
      if [[ -z ${GEMINI_API_KEY:-} ]]; then
        warn "GEMINI_API_KEY is not set: the assistant will be off (plain commands still work)." \
          "To turn it on later: GEMINI_API_KEY=<key from Google AI Studio> ./deploy.sh --project $PROJECT"
        return 0
      fi
      create_secret "$name" "GEMINI_API_KEY from the environment" "$GEMINI_API_KEY"
      ;;
    "$CRM_SECRET")
      if [[ -n ${CRM_SIGNING_SECRET:-} ]]; then
        # PyJWT warns on every token signed with a shorter HS256 key (RFC 7518, section 3.2).
        [[ ${#CRM_SIGNING_SECRET} -ge 32 ]] ||
          warn "CRM_SIGNING_SECRET is shorter than 32 characters: 'openssl rand -hex 32' makes a strong one"
        create_secret "$name" "CRM_SIGNING_SECRET from the environment" "$CRM_SIGNING_SECRET"
      else
        create_generated_secret "$name"
      fi
      ;;
    *) create_generated_secret "$name" ;;
  esac
  PRESENT_SECRETS="$PRESENT_SECRETS $name"
}

create_generated_secret() {
  local name=$1 value
  value=$(generate_secret)
  [[ $DRY_RUN == 1 || ${#value} == 64 ]] || die "openssl rand -hex 32 did not give a 64-character secret for $name"
  create_secret "$name" "openssl rand -hex 32" "$value"
}

# The secrets FN reads: its own from infra/roles.json, and the CRM's signing key in all three with rest.
secrets_of() {
  iam "$1" secrets
  if [[ $CRM_BACKEND == rest ]]; then printf '%s\n' "$CRM_SECRET"; fi
}

grant_secret_access() {
  local fn=$1 email secrets secret
  email=$(service_account_email "$fn")
  secrets=$(secrets_of "$fn")
  for secret in $secrets; do
    secret_present "$secret" || continue
    run_retrying gcloud secrets add-iam-policy-binding "$secret" --member="serviceAccount:$email" \
      --role=roles/secretmanager.secretAccessor --project="$PROJECT" >/dev/null
  done
}

# ----- 3. Firestore -----
ensure_database() {
  local type
  type=$(output_of "" gcloud firestore databases describe --format='value(type)' --project="$PROJECT" 2>/dev/null || true)
  if [[ -z $type ]]; then
    run gcloud firestore databases create --location="$FIRESTORE_LOCATION" --type=firestore-native \
      --project="$PROJECT"
  elif [[ $type != FIRESTORE_NATIVE ]]; then
    die "project $PROJECT already has a Firestore database in $type mode; the bot needs Native mode:" \
      "use another project"
  else
    say "Firestore database (default) exists"
  fi
}

apply_indexes() {
  local existing="" missing line field
  local -a parts args
  if [[ $DRY_RUN == 0 ]]; then
    existing="$WORK/indexes.json"
    gcloud firestore indexes composite list --format=json --project="$PROJECT" >"$existing"
    missing=$(plan missing-indexes --existing "$existing")
  else
    show gcloud firestore indexes composite list --format=json --project="$PROJECT"
    missing=$(plan missing-indexes)
  fi
  [[ -n $missing ]] || say "all composite indexes exist"
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    IFS=$'\t' read -r -a parts <<<"$line"
    args=(gcloud firestore indexes composite create --collection-group="${parts[0]}" --query-scope="${parts[1]}")
    for field in "${parts[@]:2}"; do args+=(--field-config="$field"); done
    args+=(--async --project="$PROJECT")
    run "${args[@]}" >/dev/null
  done <<<"$missing"
}

apply_ttls() {
  local existing missing group field
  if [[ $DRY_RUN == 0 ]]; then
    existing="$WORK/ttls.json"
    gcloud firestore fields ttls list --format=json --project="$PROJECT" >"$existing"
    missing=$(plan missing-ttls --existing "$existing")
  else
    show gcloud firestore fields ttls list --format=json --project="$PROJECT"
    missing=$(plan missing-ttls)
  fi
  [[ -n $missing ]] || say "all TTL policies exist"
  while IFS=$'\t' read -r group field; do
    [[ -n $group ]] || continue
    run gcloud firestore fields ttls update "$field" --collection-group="$group" --enable-ttl --async \
      --project="$PROJECT" >/dev/null
  done <<<"$missing"
}

# ----- 4. build and deploy -----
WEBSITE_URL=""

resolve_website_url() {
  WEBSITE_URL=$WEBSITE_URL_FLAG
  if [[ -z $WEBSITE_URL ]]; then
    WEBSITE_URL=$(output_of "" gcloud functions describe "$(function_name webhook)" --region="$REGION" \
      --format='value(serviceConfig.environmentVariables.WEBSITE_URL)' --project="$PROJECT" 2>/dev/null || true)
  fi
  if [[ -z $WEBSITE_URL ]]; then
    warn "WEBSITE_URL is not set: links in messages point to https://example.com; pass --website-url https://your-crm"
  elif [[ ! $WEBSITE_URL =~ ^https?://[^,[:space:]]+$ ]]; then
    die "--website-url must be an http(s) URL without commas or spaces, got '$WEBSITE_URL'"
  fi
}

deploy_function() {
  local fn=$1 name email build_email access secrets secret mounts="" env
  name=$(function_name "$fn")
  email=$(service_account_email "$fn")
  build_email=$(service_account_email build)
  secrets=$(secrets_of "$fn")
  for secret in $secrets; do
    secret_present "$secret" || continue
    mounts="$mounts${mounts:+,}$secret=$secret:latest"
  done
  env="GOOGLE_CLOUD_PROJECT=$PROJECT${WEBSITE_URL:+,WEBSITE_URL=$WEBSITE_URL}"
  env="$env${CRM_BACKEND:+,CRM_BACKEND=$CRM_BACKEND}${CRM_API_URL:+,CRM_API_URL=$CRM_API_URL}"
  for var in $OPTIONAL_SETTINGS; do
    if [[ -n ${!var:-} ]]; then env="$env,$var=${!var}"; fi
  done
  if [[ $fn == notify ]]; then env="$env,THREADS=$NOTIFY_CONCURRENCY"; fi # functions-framework's threads
  access=--no-allow-unauthenticated
  if [[ $fn == webhook || $TOKEN_ONLY == 1 ]]; then access=--allow-unauthenticated; fi
  say "deploying $name"
  # shellcheck disable=SC2046 # resources prints separate flags
  run gcloud functions deploy "$name" --gen2 --runtime="$RUNTIME" --region="$REGION" \
    --source="$BUILD_DIR/$fn" --entry-point="$(entry_point "$fn")" --trigger-http "$access" \
    --service-account="$email" --build-service-account="projects/$PROJECT/serviceAccounts/$build_email" \
    --set-secrets="$mounts" --set-env-vars="$env" $(resources "$fn") \
    --project="$PROJECT" --quiet >/dev/null
}

function_url() {
  local name
  name=$(function_name "$1")
  output_of "https://<$name URL>" gcloud functions describe "$name" --region="$REGION" \
    --format='value(serviceConfig.uri)' --project="$PROJECT"
}

# ----- 5. talk to the admin function -----
ADMIN_URL=""
ADMIN_TOKEN=""
ID_TOKEN=""

admin_credentials() {
  ADMIN_TOKEN=$(output_of "<ADMIN_API_TOKEN>" gcloud secrets versions access latest --secret=ADMIN_API_TOKEN \
    --project="$PROJECT")
  if [[ $TOKEN_ONLY == 0 ]]; then
    # admin is IAM-only: the identity token goes in X-Serverless-Authorization, which Cloud Run checks,
    # leaving Authorization to the admin token.
    ID_TOKEN=$(output_of "<identity token>" gcloud auth print-identity-token) ||
      die "could not get an identity token to call the IAM-only admin function: run 'gcloud auth login'" \
        "(or deploy with --token-only)"
  fi
}

# METHOD PATH BODY: returns non-zero (with a message) when admin does not answer 2xx.
call_admin() {
  local method=$1 path=$2 body=$3 status shown
  shown=(curl -sS --retry 3 -X "$method" "$ADMIN_URL$path" -H "Authorization: Bearer <ADMIN_API_TOKEN>")
  if [[ -n $ID_TOKEN ]]; then shown+=(-H "X-Serverless-Authorization: Bearer <gcloud auth print-identity-token>"); fi
  shown+=(-H "Content-Type: application/json" --data-binary "$body")
  show "${shown[@]}"
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  # The tokens travel in a file (curl -H @file) in the private mktemp -d folder, never on a command line.
  {
    printf 'Authorization: Bearer %s\n' "$ADMIN_TOKEN"
    if [[ -n $ID_TOKEN ]]; then printf 'X-Serverless-Authorization: Bearer %s\n' "$ID_TOKEN"; fi
    printf 'Content-Type: application/json\n'
  } >"$WORK/headers"
  status=$(curl -sS --retry 3 -o "$WORK/response" -w '%{http_code}' -X "$method" -H @"$WORK/headers" \
    --data-binary "$body" "$ADMIN_URL$path") || {
    warn "could not reach $ADMIN_URL$path"
    return 1
  }
  if [[ $status != 2* ]]; then
    warn "admin $method $path answered HTTP $status: $(cat "$WORK/response" 2>/dev/null)"
    return 1
  fi
  say "admin $method $path: $(cat "$WORK/response")"
}

crm_summary() {
  if [[ $CRM_BACKEND != rest ]]; then
    printf '%s\n' "The CRM writes the bot's Firestore (CRM_BACKEND=firestore): docs/crm-schema.md."
    return 0
  fi
  cat <<EOF
The bot calls the CRM's connector API at $CRM_API_URL (CRM_BACKEND=rest), with HS256 tokens
(aud: $CRM_API_URL) signed with the secret CRM_SIGNING_SECRET. Give it to the CRM team: the CRM checks
every token with it and answers 401 without it (docs/crm-connector.md).
  Secret Manager: projects/$PROJECT/secrets/CRM_SIGNING_SECRET
  read it:        gcloud secrets versions access latest --secret=CRM_SIGNING_SECRET --project=$PROJECT
EOF
}

print_summary() {
  local webhook_url=$1 notify_url=$2 auth_line=""
  local notify_access="IAM: callers need roles/run.invoker, plus the signature"
  local admin_access="IAM: callers need roles/run.invoker, plus the bearer token"
  if [[ $TOKEN_ONLY == 1 ]]; then
    notify_access="public, the signature is required"
    admin_access="public, the bearer token is required"
  else
    auth_line="  -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" \\
"
  fi
  cat >&3 <<EOF

Deployed to project $PROJECT ($REGION):
  webhook  $webhook_url   (public; Telegram proves itself with the secret token header)
  notify   $notify_url   ($notify_access)
  admin    $ADMIN_URL   ($admin_access)

The CRM signs notify requests with the secret NOTIFY_SIGNING_SECRET:
  Secret Manager: projects/$PROJECT/secrets/NOTIFY_SIGNING_SECRET
  read it:        gcloud secrets versions access latest --secret=NOTIFY_SIGNING_SECRET --project=$PROJECT

The CRM website creates link codes (POST $ADMIN_URL/link-codes) with LINK_CODE_API_TOKEN,
a bearer token that can do nothing else on admin:
  Secret Manager: projects/$PROJECT/secrets/LINK_CODE_API_TOKEN
  read it:        gcloud secrets versions access latest --secret=LINK_CODE_API_TOKEN --project=$PROJECT

$(crm_summary)

Send a test notification (X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">):
  SECRET=\$(gcloud secrets versions access latest --secret=NOTIFY_SIGNING_SECRET --project=$PROJECT)
  BODY='{"id":"test-1","type":"message","occurred_at":"2024-01-15T14:30:00Z","user_id":"<CRM user id>","data":{"text":"Hello from the CRM"}}'
  T=\$(date +%s)
  SIG=\$(printf '%s.%s' "\$T" "\$BODY" | openssl dgst -sha256 -hmac "\$SECRET" | awk '{print \$NF}')
  curl -X POST "$notify_url" \\
$auth_line  -H "Content-Type: application/json" -H "X-Signature: t=\$T,v1=\$SIG" --data-binary "\$BODY"
EOF
}

# ----- deploy -----
deploy() {
  if [[ $DRY_RUN == 1 ]]; then
    say "dry run: nothing is run or changed; read-only checks are shown and a fresh project is assumed"
  else
    require_tools
  fi
  resolve_bot_token

  say "1. APIs and service accounts"
  enable_apis
  local who
  for who in $FUNCTIONS build; do ensure_service_account "$who"; done

  say "2. the CRM and the secrets"
  resolve_crm
  local name
  for name in $SECRETS; do ensure_secret "$name"; done
  if [[ $CRM_BACKEND == rest ]]; then ensure_secret "$CRM_SECRET"; fi
  for who in $FUNCTIONS; do grant_secret_access "$who"; done

  say "3. Firestore"
  ensure_database
  apply_indexes
  apply_ttls

  say "4. build and deploy"
  resolve_website_url
  run "$PYTHON" "$ROOT/scripts/build_bundles.py" --out "$BUILD_DIR" >/dev/null
  for who in $FUNCTIONS; do deploy_function "$who"; done
  local member
  for member in $NOTIFY_INVOKERS; do
    run gcloud functions add-invoker-policy-binding "$(function_name notify)" --region="$REGION" \
      --member="$member" --project="$PROJECT" >/dev/null
  done

  say "5. Telegram webhook and commands"
  local webhook_url notify_url
  webhook_url=$(function_url webhook)
  notify_url=$(function_url notify)
  ADMIN_URL=$(function_url admin)
  admin_credentials
  call_admin POST /webhook/set "{\"webhook_url\": \"$webhook_url\"}" ||
    die "the functions are deployed but Telegram's webhook is not set: fix the cause above and run ./deploy.sh again"
  call_admin POST /commands/sync "{}" ||
    die "the webhook is set but the command menu was not published: run ./deploy.sh again"

  print_summary "$webhook_url" "$notify_url"
}

# ----- teardown -----
confirm_teardown() {
  if [[ $DRY_RUN == 1 || $ASSUME_YES == 1 ]]; then return 0; fi
  [[ -t 0 ]] || die "--teardown deletes the bot's functions, service accounts and secrets: run it in a terminal" \
    "to confirm, or add --yes"
  local answer
  printf 'This deletes the functions, service accounts and secrets of the CRM bot in %s\n' "$PROJECT" >&2
  printf '(the bot token and the secrets shared with the CRM are lost; Firestore data is kept).\n' >&2
  read -r -p "Type the project id to confirm: " answer
  [[ $answer == "$PROJECT" ]] || die "not confirmed; nothing was deleted"
}

teardown() {
  if [[ $DRY_RUN == 1 ]]; then
    say "dry run: nothing is run or changed; read-only checks are shown and everything is assumed to exist"
  else
    require_tools
  fi
  confirm_teardown

  local fn name who email roles role secret
  name=$(function_name admin)
  if [[ $DRY_RUN == 1 ]] || succeeds gcloud functions describe "$name" --region="$REGION" --project="$PROJECT"; then
    ADMIN_URL=$(function_url admin)
    admin_credentials
    call_admin DELETE /webhook "{}" || warn "could not remove Telegram's webhook; Telegram will keep trying the old URL"
  fi
  for fn in $FUNCTIONS; do
    name=$(function_name "$fn")
    if [[ $DRY_RUN == 1 ]] || succeeds gcloud functions describe "$name" --region="$REGION" --project="$PROJECT"; then
      run gcloud functions delete "$name" --region="$REGION" --project="$PROJECT" --quiet
    fi
  done
  for who in $FUNCTIONS build; do
    email=$(service_account_email "$who")
    if [[ $DRY_RUN == 1 ]] || succeeds gcloud iam service-accounts describe "$email" --project="$PROJECT"; then
      roles=$(iam "$who" roles)
      for role in $roles; do
        run gcloud projects remove-iam-policy-binding "$PROJECT" --member="serviceAccount:$email" --role="$role" \
          --condition=None --quiet >/dev/null || warn "could not remove $role from $email"
      done
      run gcloud iam service-accounts delete "$email" --project="$PROJECT" --quiet
    fi
  done
  for secret in $SECRETS $CRM_SECRET; do
    if [[ $DRY_RUN == 1 ]] || succeeds gcloud secrets describe "$secret" --project="$PROJECT"; then
      run gcloud secrets delete "$secret" --project="$PROJECT" --quiet
    fi
  done
  say "done. Firestore data is kept; delete the database in the console if you want it gone."
}

main() {
  parse_args "$@"
  if [[ $TEARDOWN == 0 ]]; then check_crm_settings; fi
  IAM_TABLE=$(plan iam)
  if [[ $DRY_RUN == 0 ]]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
  fi
  if [[ $TEARDOWN == 1 ]]; then teardown; else deploy; fi
}

main "$@"
