# syntax=docker/dockerfile:1
# truetask-adsync: the operator and CLI on Node.js 24 LTS.
# Multi-stage: compile TypeScript with dev dependencies, ship production ones only.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

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
