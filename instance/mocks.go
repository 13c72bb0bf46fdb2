package instance

import (
	"fmt"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// channelEndpoints turns the channels' endpoint settings into adapter
// configs, starting a mock marketplace for each channel that asks for one
// (it behaves like the real API, limits and unpleasant answers included).
func channelEndpoints(channels []config.Channel) (map[string]marketplace.Config, map[string]*mock.Server, error) {
	endpoints := map[string]marketplace.Config{}
	mocks := map[string]*mock.Server{}
	fail := func(err error) (map[string]marketplace.Config, map[string]*mock.Server, error) {
		closeMocks(mocks)
		return nil, nil, err
	}
	for _, c := range channels {
		if !c.Endpoint.Mock {
			key, err := c.Endpoint.APIKey()
			if err != nil {
				return fail(fmt.Errorf("channel %s: %w", c.Name, err))
			}
			endpoints[c.Name] = marketplace.Config{BaseURL: c.Endpoint.URL, Token: key, ClientID: c.Endpoint.ClientID,
				WarehouseID: c.Endpoint.WarehouseID, CampaignID: c.Endpoint.CampaignID, Channel: c.Name}
			continue
		}
		s, err := mock.New(c.Marketplace)
		if err != nil {
			return fail(fmt.Errorf("channel %s: %w", c.Name, err))
		}
		mocks[c.Name] = s
		cfg := s.Config()
		cfg.Channel = c.Name
		endpoints[c.Name] = cfg
	}
	return endpoints, mocks, nil
}

func closeMocks(mocks map[string]*mock.Server) {
	for _, m := range mocks {
		m.Close()
	}
}
