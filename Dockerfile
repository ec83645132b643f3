# syntax=docker/dockerfile:1
# truetask-adsync: the operator and CLI on Node.js 24 LTS.
# Multi-stage: compile TypeScript with dev dependencies, ship production ones only.

FROM node:24-bookworm-slim AS build
# Only for machines whose registry access goes through a private CA: a CA bundle
# (mounted for the build) Node.js trusts in the RUN steps. Unset by default; never
# in the shipped image (build stage only).
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Production dependencies only, without what is never loaded at run time: TypeScript
# sources and declarations, source maps, the packages' own tests.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete \
 && find node_modules -depth -type d \( -name test -o -name tests -o -name __tests__ \) -exec rm -rf {} + \
 && find node_modules -depth -type d -empty -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# Non-root; nothing is written to the filesystem (works with readOnlyRootFilesystem).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["controller"]
