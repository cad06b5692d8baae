// The coaching panel's static files (web/panel/), compiled into the binary by
// embed_assets.cmake. The HTTP listener serves exactly these paths and nothing from
// disk, so no request can name a file.
//
// Thread safety: immutable data.
#ifndef DEALCOACH_SIDECAR_HTTP_PANEL_ASSETS_H_
#define DEALCOACH_SIDECAR_HTTP_PANEL_ASSETS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace dealcoach::http {

struct PanelAsset {
  std::string url_path;  // "/ui/panel.js"
  const char* data;
  size_t size;
  const char* content_type;  // "text/javascript; charset=utf-8"
  std::string sha256_hex;    // of the content, for the ETag
};

const std::vector<PanelAsset>& PanelAssets();

// The asset served at `url_path` ("/ui/", "/panel" and "/ui/index.html" are the page),
// or null.
const PanelAsset* FindPanelAsset(absl::string_view url_path);

}  // namespace dealcoach::http

#endif  // DEALCOACH_SIDECAR_HTTP_PANEL_ASSETS_H_
