import { defineConfig } from "vite";

// The dev server (npm run dev) and the preview server (npm run preview)
// forward /query to Ironclad, so the browser sees one origin: the
// SameSite=Strict, Path=/query refresh cookie is first-party and no CORS
// setting is needed. IRONCLAD_URL points at the server (default :8080).
const target = process.env.IRONCLAD_URL ?? "http://localhost:8080";
// ws: true forwards the websocket of subscriptions too.
const proxy = { "/query": { target, ws: true } };

export default defineConfig({
  server: { proxy },
  preview: { proxy },
});
