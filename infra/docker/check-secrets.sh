#!/bin/sh
# Run by docker-compose.yml's `config-check` before anything else starts: refuse the example
# credentials of .env.example / the compose defaults unless the local profile is chosen
# explicitly (CREDIT_SCORING_PROFILE=local in .env, on a laptop).
# Each CHECK_<NAME> variable carries the value compose resolved for <NAME>.
set -eu
# One per line (the loops split on newlines only, so values may hold spaces).
examples="local-only-change-me
local-dev-key"
bad=""
IFS='
'
for pair in $(env | grep '^CHECK_' | sort); do
  name=${pair%%=*}
  value=${pair#*=}
  for example in $examples; do
    case ",$value," in
      *",$example,"*) bad="$bad ${name#CHECK_}" ;;
    esac
  done
done
if [ -z "$bad" ]; then
  echo "config-check: no example credential in use"
  exit 0
fi
if [ "${CREDIT_SCORING_PROFILE:-}" = "local" ]; then
  echo "config-check: WARNING local profile: example credentials in use for:$bad (laptop only)"
  exit 0
fi
echo "config-check: refusing to start: example credentials in use for:$bad" >&2
echo "config-check: set your own values in .env (see .env.example), or choose the local" >&2
echo "config-check: profile explicitly with CREDIT_SCORING_PROFILE=local (laptop only)." >&2
exit 1
