# One image for every Jetstep service and the example apps: `jetstep start --services …` picks what
# a container runs. TypeScript runs through tsx (no build step).
# Node 20 (>= 20.6), as package.json's engines, CI and the dependencies (scripts/check-engines.mjs).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/core/package.json shared/core/
COPY shared/jetstream/package.json shared/jetstream/
COPY shared/telemetry/package.json shared/telemetry/
COPY shared/sdk/package.json shared/sdk/
COPY shared/toolchain/package.json shared/toolchain/
COPY services/gateway/package.json services/gateway/
COPY services/matcher/package.json services/matcher/
COPY services/executor/package.json services/executor/
COPY services/cron/package.json services/cron/
COPY services/cli/package.json services/cli/
COPY services/ui/package.json services/ui/
COPY examples/hello/package.json examples/hello/
COPY examples/shop/package.json examples/shop/
RUN npm ci --omit=dev --ignore-scripts
COPY . .
ENV NODE_ENV=production
EXPOSE 8288
ENTRYPOINT ["node", "services/cli/bin/jetstep.mjs"]
CMD ["start"]
