# A Guts node image.
#
#   docker build -t guts .
#   docker run -d --name guts -p 8080:8080 -p 9090:9090 -p 9000:9000 -v guts-data:/var/lib/guts guts
#   docker exec guts cat /var/lib/guts/admin-token
#
# Settings come from GUTS_* variables (-e GUTS_PUBLIC_URL=https://git.example.com), or from
# a file mounted at /etc/guts/guts.yaml and named with -e GUTS_CONFIG=/etc/guts/guts.yaml;
# docs/configuration.md lists them all.

FROM node:20-slim AS build
WORKDIR /app
# A toolchain for the native modules (better-sqlite3, rocksdb-native), used only when no
# prebuilt binary fits the platform.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=262144 \
    MALLOC_TRIM_THRESHOLD_=1048576 \
    GUTS_DATA_DIR=/var/lib/guts \
    GUTS_LOG_FORMAT=json
RUN groupadd --system guts \
  && useradd --system --gid guts --home-dir /var/lib/guts --shell /usr/sbin/nologin guts \
  && mkdir -p /var/lib/guts /etc/guts \
  && chown guts:guts /var/lib/guts \
  && chmod 0700 /var/lib/guts
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER guts
VOLUME ["/var/lib/guts"]
# HTTP (API, git, health), Prometheus metrics, P2P between validators.
EXPOSE 8080 9090 9000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.GUTS_HTTP_PORT || 8080}/health/live`).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Memory settings: docs/operators.md, "Memory".
ENTRYPOINT ["node", "--max-semi-space-size=8", "--max-old-space-size=1536", "--enable-source-maps", "dist/programs/main.js"]
CMD ["node"]
