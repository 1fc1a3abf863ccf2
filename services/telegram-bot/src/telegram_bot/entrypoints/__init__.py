"""Transport → handler: the Telegram updates, the progress reader, the incidents check."""
